/**
 * Splits a stream of concatenated JSON objects (docker's progress streams: one object per line,
 * but objects may also arrive glued together or split anywhere). Owner: CLI (apps/conga). Pure.
 */

/** Incremental splitter: push text chunks, get parsed top-level objects. */
export class JsonStreamParser {
  private text = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  /** Add a chunk; returns each JSON value completed by it. Throws SyntaxError on bad JSON. */
  push(chunk: string): unknown[] {
    this.text += chunk;
    const out: unknown[] = [];
    let i = this.scanned;
    for (; i < this.text.length; i++) {
      const c = this.text[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          out.push(JSON.parse(this.text.slice(this.start, i + 1)));
          this.text = this.text.slice(i + 1);
          i = -1;
          this.start = -1;
        }
      }
    }
    if (this.depth === 0) {
      // Only whitespace between objects is left: drop it.
      this.text = '';
      this.scanned = 0;
    } else this.scanned = this.text.length;
    return out;
  }

  /** True when an object was started but not finished. */
  get incomplete(): boolean {
    return this.depth !== 0;
  }
}
