// Bundles the test page (page/) into a GUI folder for `pyarmonik local --gui`:
//   node build-page.mjs OUT_DIR   ->  OUT_DIR/en/{index.html,page.js}
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const out = join(process.argv[2], 'en');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['page/page.mjs'], bundle: true, format: 'esm', target: 'es2022', outfile: join(out, 'page.js'),
  logLevel: 'warning', minify: true,
});
copyFileSync('page/index.html', join(out, 'index.html'));
console.log(JSON.stringify({ built: out }));
