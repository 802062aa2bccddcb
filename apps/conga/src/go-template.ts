/**
 * A small subset of Go templates for `--format`: literal text, `{{.A.B}}`, `{{json .A}}`,
 * `{{index .A "key"}}`, `{{upper .A}}`, `{{lower .A}}`, `{{join .A ","}}`, `{{println}}`, and
 * `{{json .}}`, methods with arguments (`{{.Label "k"}}`: a function-valued field). Owner: CLI
 * (apps/conga). Pure; unknown actions are a clear error.
 */
import { E } from './errors';

function lookup(root: unknown, path: string): unknown {
  if (path === '.') return root;
  let v: any = root;
  for (const k of path.replace(/^\./, '').split('.')) {
    if (v == null) return undefined;
    v = v[k];
  }
  return v;
}

/** Go's default formatting of a value in a template (maps as map[k:v], slices as [a b]). */
function goString(v: unknown): string {
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'function') return goString(v());
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => `${k}:${goString(x)}`).join(' ')}]`;
  return String(v);
}

function tokens(expr: string): string[] {
  return [...expr.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? JSON.stringify(JSON.parse(`"${m[1]}"`)) : m[2]));
}

function evalArg(t: string, data: unknown): unknown {
  if (t.startsWith('"')) return JSON.parse(t);
  if (t.startsWith('.')) return lookup(data, t);
  if (/^-?\d+$/.test(t)) return Number(t);
  throw E.InvalidArgument(`template: unknown value "${t}"`);
}

function evalAction(expr: string, data: unknown): string {
  const t = tokens(expr.trim());
  if (t.length === 0) return '';
  const [head, ...rest] = t;
  const args = () => rest.map((a) => evalArg(a, data));
  switch (head) {
    case 'json':
      return JSON.stringify(args()[0] ?? null);
    case 'index': {
      const [obj, ...keys] = args();
      let v: any = obj;
      for (const k of keys) v = v?.[k as string];
      return v === undefined ? '<no value>' : goString(v);
    }
    case 'upper':
      return goString(args()[0]).toUpperCase();
    case 'lower':
      return goString(args()[0]).toLowerCase();
    case 'join': {
      const [arr, sep] = args();
      return Array.isArray(arr) ? arr.join(String(sep)) : goString(arr);
    }
    case 'println':
      return args().map(goString).join(' ') + '\n';
    default:
      if (head.startsWith('.')) {
        // A method with arguments, as docker's formatters have ({{.Label "com.example"}}).
        const v = lookup(data, head);
        if (typeof v === 'function') return goString(v(...args()));
        if (rest.length === 0) return goString(v);
      }
      throw E.InvalidArgument(`template: function "${head}" not defined (conga supports json, index, upper, lower, join, println and .Field paths)`);
  }
}

/** Render `tpl` against `data`. */
export function renderTemplate(tpl: string, data: unknown): string {
  return tpl.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, expr: string) => evalAction(expr, data));
}
