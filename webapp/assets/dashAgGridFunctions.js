// AG Grid value formatters for the hwsim dashboard: the same unit style as webapp/units.py
// (J with SI prefixes, kB/MB, k/M cycles, %, percentage points). Plain JS: d3 is not global here.
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

dagfuncs.hwsimUnit = function (value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) { return ""; }
    if (unit === "fraction") { return (100 * value).toFixed(1) + " %"; }
    if (unit === "pp") { return (value >= 0 ? "+" : "") + (100 * value).toFixed(1) + " pp"; }
    // unit -> [factor to the shown unit, symbol, counted (1.5M cycles) or joined (10.7 mJ)]
    var table = {pJ: [1e-12, "J", false], bytes: [1, "B", false], cycles: [1, "cycles", true],
                 MACs: [1, "MACs", true], W: [1, "W", false], s: [1, "s", false], mm2: [1, "mm²", true],
                 "pJ s": [1e-12, "J·s", false], TOPS: [1, "TOPS", true], "TOPS/W": [1, "TOPS/W", true],
                 "TOPS/mm2": [1, "TOPS/mm²", true],
                 us: [1e-6, "s", false], flag: [1, "", true]};
    var noPrefix = ["mm2", "TOPS", "TOPS/W", "TOPS/mm2", "flag"];
    var t = table[unit] || [1, unit || "", true];
    var x = value * t[0];
    var prefixes = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"],
                    [1e-9, "n"], [1e-12, "p"], [1e-15, "f"]];
    var num = String(Number(x.toPrecision(3))), prefix = "";
    if (x !== 0 && noPrefix.indexOf(unit) < 0) {
        for (var i = 0; i < prefixes.length; i++) {
            if (Math.abs(x) >= prefixes[i][0] * 0.9995) {
                num = String(Number((x / prefixes[i][0]).toPrecision(3)));
                prefix = prefixes[i][1];
                break;
            }
        }
    }
    if (!t[1]) { return num + prefix; }
    return t[2] ? num + prefix + " " + t[1] : num + " " + prefix + t[1];
};
