/**
 * Renders docker's JSON progress messages (pull/push/load streams). Owner: CLI (apps/conga). Pure:
 * give it a `write` function; it never touches process.stdout itself.
 * - TTY: one line per layer id, redrawn in place with ANSI cursor moves ("id: status [==>  ] 1MB/2MB").
 * - Not a TTY: each layer's status printed once per change, no bars (docker skips bar updates).
 * An `error`/`errorDetail` message makes {@link ProgressRenderer.update} throw a catalog error.
 */
import { E } from './errors';
import { humanSize } from './humanize';

/** One message of the stream (docker's JSONMessage; fields this CLI uses). */
export interface JsonMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}

/** Docker's progress text for a detail: "[=====>     ] 1.2MB/3.4MB" (bar only when `width` > 110). */
export function progressBar(detail: { current?: number; total?: number }, width: number): string {
  const current = detail.current ?? 0;
  const total = detail.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  let pct = Math.trunc(Math.trunc((current / total) * 100) / 2);
  if (pct > 50) pct = 50;
  let box = '';
  if (width > 110) box = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? '' : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return box + numbers;
}

export interface RendererOptions {
  tty: boolean;
  /** Terminal width for bars (default 120). */
  columns?: number;
}

/** Stateful renderer for one stream. */
export class ProgressRenderer {
  private lines = new Map<string, number>();
  private lastStatus = new Map<string, string>();

  constructor(
    private readonly write: (s: string) => void,
    private readonly opts: RendererOptions,
  ) {}

  /** The text of one message without cursor control (what a line shows). */
  lineFor(m: JsonMessage): string {
    let s = m.id ? `${m.id}: ` : '';
    s += m.status ?? '';
    const bar = m.progressDetail ? progressBar(m.progressDetail, this.opts.columns ?? 120) : '';
    const prog = bar || m.progress || '';
    if (prog) s += ' ' + prog;
    return s;
  }

  /** Render one message; throws E.DaemonStreamError for error messages. */
  update(m: JsonMessage): void {
    if (m.error !== undefined || m.errorDetail !== undefined) {
      throw E.DaemonStreamError(m.errorDetail?.message || m.error || 'unknown error');
    }
    if (m.stream !== undefined) {
      this.write(m.stream);
      return;
    }
    if (m.status === undefined && m.progressDetail === undefined) return;
    if (this.opts.tty) this.updateTty(m);
    else this.updatePlain(m);
  }

  private updateTty(m: JsonMessage): void {
    if (!m.id) {
      // Something that is not a layer line: history ends here, like docker.
      this.lines.clear();
      this.write(this.lineFor(m) + '\n');
      return;
    }
    let line = this.lines.get(m.id);
    if (line === undefined) {
      line = this.lines.size;
      this.lines.set(m.id, line);
      this.write(this.lineFor(m) + '\n');
      return;
    }
    const up = this.lines.size - line;
    this.write(`\x1b[${up}A\r\x1b[2K${this.lineFor(m)}\r\x1b[${up}B`);
  }

  private updatePlain(m: JsonMessage): void {
    const status = m.status ?? '';
    if (!m.id) {
      this.write(status + '\n');
      return;
    }
    if (this.lastStatus.get(m.id) === status) return;
    this.lastStatus.set(m.id, status);
    this.write(`${m.id}: ${status}\n`);
  }
}
