/**
 * HTML built with a tagged template that escapes every interpolated value:
 * a table name or node id is data, and data is never markup. Only values
 * already made by `html` (a `SafeHtml`) pass through unescaped, so a
 * forgotten escape cannot happen at a call site.
 */

/** Markup made by `html` (its interpolations already escaped). */
export class SafeHtml {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** A value `html` accepts: escaped unless it is SafeHtml; arrays are joined; undefined and null render as nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | bigint | undefined | null | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an HTML element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Template tag: literal parts as written, every value escaped (see HtmlValue). */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

function render(value: HtmlValue): string {
  if (value === undefined || value === null) return '';
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map((v: HtmlValue) => render(v)).join('');
  return escapeHtml(String(value));
}
