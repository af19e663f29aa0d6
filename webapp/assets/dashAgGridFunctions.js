// AG Grid value formatters for the hwsim dashboard: the unit style of hwsim/units.py in JS
// (J with SI prefixes, kB/MB, k/M cycles, %, percentage points), never an exponent.
// hwsimUnit(value, unit) picks a prefix per value; hwsimUnit(value, unit, factor, suffix) draws a
// whole column with one prefix (chosen on the server from the column's values).
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

function hwsimNum(x, digits) {
    if (x === 0) { return "0"; }
    var ax = Math.abs(x);
    var intDigits = ax >= 1 ? Math.floor(Math.log10(ax)) + 1 : 0;
    var decimals = intDigits >= digits ? 0 : (ax >= 1 ? digits - intDigits : digits - Math.floor(Math.log10(ax)) - 1);
    decimals = Math.min(decimals, 12);
    var text = x.toLocaleString("en-US", {minimumFractionDigits: 0, maximumFractionDigits: decimals,
                                          useGrouping: intDigits > 4});
    return text === "-0" ? "0" : text;
}

dagfuncs.hwsimUnit = function (value, unit, factor, suffix) {
    if (value === null || value === undefined || Number.isNaN(value)) { return ""; }
    if (unit === "fraction") { return (100 * value).toFixed(1) + " %"; }
    if (unit === "pp") { return (value >= 0 ? "+" : "") + (100 * value).toFixed(1) + " pp"; }
    if (factor !== undefined) { return hwsimNum(value * factor, 3) + suffix; }
    // unit -> [factor to the shown unit, symbol, counted (1.5M cycles) or joined (10.7 mJ)]
    var table = {pJ: [1e-12, "J", false], bytes: [1, "B", false], cycles: [1, "cycles", true],
                 MACs: [1, "MACs", true], W: [1, "W", false], s: [1, "s", false], mm2: [1, "mm²", true],
                 "pJ s": [1e-12, "J·s", false], TOPS: [1, "TOPS", true], "TOPS/W": [1, "TOPS/W", true],
                 "TOPS/mm2": [1, "TOPS/mm²", true], "pJ/MAC": [1, "pJ/MAC", true],
                 us: [1e-6, "s", false], MHz: [1e6, "Hz", false], kB: [1e3, "B", false], flag: [1, "", true]};
    var noPrefix = ["mm2", "TOPS", "TOPS/W", "TOPS/mm2", "flag", "pJ/MAC"];
    var t = table[unit] || [1, unit || "", true];
    var x = value * t[0];
    var prefixes = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "µ"],
                    [1e-9, "n"], [1e-12, "p"], [1e-15, "f"]];
    var num = hwsimNum(x, 3), prefix = "";
    var counted = unit === "cycles" || unit === "MACs";
    if (x !== 0 && noPrefix.indexOf(unit) < 0 && !(counted && Math.abs(x) < 1e4)) {
        for (var i = 0; i < prefixes.length; i++) {
            if (Math.abs(x) >= prefixes[i][0] * 0.9995) {
                num = hwsimNum(x / prefixes[i][0], 3);
                prefix = prefixes[i][1];
                break;
            }
        }
    } else if (counted) {
        num = Math.round(x).toLocaleString("en-US");
    }
    if (!t[1]) { return num + prefix; }
    return t[2] ? num + prefix + " " + t[1] : num + " " + prefix + t[1];
};
