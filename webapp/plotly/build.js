// Writes plotly-hwsim.min.js: plotly.js with only the trace types the dashboard draws (entry.js), about
// a third of the full bundle's bytes, so a first visit parses less. Run after `npm ci` in this folder:
//   node build.js
// The options are plotly.js's own esbuild-config.js, minified.
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const version = require('plotly.js/package.json').version;

esbuild.build({
  entryPoints: [`${__dirname}/entry.js`], outfile: `${__dirname}/plotly-hwsim.min.js`,
  format: 'iife', globalName: 'Plotly', bundle: true, minify: true, sourcemap: false, legalComments: 'none',
  banner: { js: `/*! plotly.js v${version} (MIT, Copyright 2012-2026 Plotly, Inc.): core, bar, heatmap, parcoords */` },
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
  define: { global: 'window', 'define.amd': 'false' }, target: 'es2016', logLevel: 'warning',
}).catch(() => process.exit(1));
