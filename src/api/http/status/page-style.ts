/**
 * The one stylesheet of the status and sign-in pages, inline: the pages
 * load nothing from anywhere (no scripts, fonts or images), so they work
 * on an air-gapped operations network and under a `default-src 'none'`
 * Content-Security-Policy.
 */
import { SafeHtml } from './html-template.ts';

/** Colour of each node state and heartbeat verdict; the text beside it always says the same. */
export const STATE_COLOURS = {
  alive: '#1a7f37',
  suspect: '#9a6700',
  dead: '#cf222e',
  fresh: '#1a7f37',
  late: '#9a6700',
  overdue: '#cf222e',
} as const;

/** The `<style>` element. */
export const PAGE_STYLE = new SafeHtml(`<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1360px;margin:0 auto;padding:12px 20px}
h1{font-size:20px;margin:4px 0 8px}h2{font-size:16px;margin:18px 0 6px}
dl.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:4px 16px;margin:0}
dl.kv div{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 8px}
dt{font-size:11px;color:#59636e;text-transform:uppercase;letter-spacing:.04em}dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px}
.tile{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}
.tile b{display:block;font-size:22px}.tile span{font-size:12px;color:#59636e}
.tile.warn{border-color:#9a6700;background:#fff8c5}.tile.bad{border-color:#cf222e;background:#ffebe9}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eaeef2;font-size:12px}td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600;white-space:nowrap}td.num{white-space:nowrap}.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:baseline}
.bar{background:#eaeef2;border-radius:3px;height:14px;min-width:200px}.bar i{display:block;height:14px;border-radius:3px;background:#0969da}
details{margin-top:8px}summary{cursor:pointer;color:#0969da}
.muted{color:#59636e}.err{color:#cf222e;font-weight:600}
nav a{margin-right:12px}form.inline{display:inline}
input[type=password]{width:32em;max-width:100%;padding:6px}button{padding:6px 14px}
</style>`);
