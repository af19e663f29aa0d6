'use strict';
// plotly.js with only the trace types the dashboard draws: scatter (in core), bar, heatmap, parcoords.
var Plotly = require('plotly.js/lib/core');
Plotly.register([require('plotly.js/lib/bar'), require('plotly.js/lib/heatmap'), require('plotly.js/lib/parcoords')]);
module.exports = Plotly;
