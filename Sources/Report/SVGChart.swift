import Foundation

/// A line chart as inline SVG: a few series over a shared x axis, ticks, a legend (wrapped
/// onto as many rows as it needs), and an optional shaded x interval (a learned range). Scales
/// to its container (viewBox); sized so that in a two-column grid at 1,100 px the text is
/// drawn at about its nominal size (ticks 12 px).
struct SVGChart {
    struct Series {
        var label: String
        var points: [(x: Double, y: Double)]
        var color: String
        var dashed = false
        /// Drawn as a wide translucent band under the thin lines, so that a series lying on
        /// top of another stays visible.
        var band = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var shaded: (low: Double, high: Double)?
    var yRange: (Double, Double)?
    /// A logarithmic y axis (values at or below 0 are left out).
    var logY = false
    var width = 480.0, height = 270.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    /// Legend entries placed in rows: (series index, x, row).
    func legendLayout(left: Double, right: Double) -> [(index: Int, x: Double, row: Int)] {
        var placed: [(Int, Double, Int)] = []
        var (x, row) = (left, 0)
        for (index, s) in series.enumerated() {
            let itemWidth = 30 + Double(s.label.count) * 6.8
            if x > left && x + itemWidth > width - right { (x, row) = (left, row + 1) }
            placed.append((index, x, row))
            x += itemWidth
        }
        return placed
    }

    func render() -> String {
        let left = 58.0, right = 12.0, top = 30.0
        let legend = legendLayout(left: left, right: right)
        let legendRows = (legend.map(\.row).max() ?? 0) + 1
        let bottom = 48.0 + 17 * Double(legendRows)
        let drawn = series.map { s in s.points.compactMap { p -> (x: Double, y: Double)? in
            guard logY else { return p }
            return p.y > 0 ? (p.x, log10(p.y)) : nil
        } }
        let all = drawn.flatMap { $0 }
        guard !all.isEmpty else { return "" }
        var (x0, x1) = (all.map(\.x).min()!, all.map(\.x).max()!)
        if x0 == x1 { (x0, x1) = (x0 - 1, x1 + 1) }
        var (y0, y1) = yRange ?? (all.map(\.y).min()!, all.map(\.y).max()!)
        if logY && yRange == nil { (y0, y1) = (floor(y0), max(ceil(y1), floor(y0) + 1)) }
        if y0 == y1 { (y0, y1) = (y0 - 1, y1 + 1) }
        if yRange == nil && !logY { let pad = (y1 - y0) * 0.05; (y0, y1) = (y0 - pad, y1 + pad) }
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escapeHTML(title))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<text x=\"\(f(left))\" y=\"16\" class=\"chart-title\">\(escapeHTML(title))</text>"
        if let shaded {
            let a = px(max(x0, min(x1, shaded.low))), b = px(max(x0, min(x1, shaded.high)))
            svg += "<rect x=\"\(f(a))\" y=\"\(f(top))\" width=\"\(f(max(1, b - a)))\" height=\"\(f(plotHeight))\" class=\"learned\"/>"
        }
        let yTicks = logY ? Array(stride(from: y0, through: y1 + 1e-9, by: 1)) : Self.ticks(y0, y1)
        for tick in yTicks {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\" class=\"tick\">\(logY ? String(format: "%g", pow(10, tick)) : Self.label(tick))</text>"
        }
        for tick in Self.ticks(x0, x1) {
            svg += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" class=\"tick\">\(Self.label(tick))</text>"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" class=\"frame\"/>"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 34))\" text-anchor=\"middle\" class=\"axis\">\(escapeHTML(xLabel))</text>"
        svg += "<text transform=\"translate(15 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(escapeHTML(yLabel))</text>"
        func stroke(_ s: Series) -> String {
            s.band ? "stroke=\"\(s.color)\" stroke-width=\"7\" stroke-opacity=\"0.3\"\(s.dashed ? " stroke-dasharray=\"9 5\"" : "")"
                   : "stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 4\"" : "")"
        }
        // Bands first, so the thin lines lie on top of them.
        for (s, points) in zip(series, drawn).sorted(by: { $0.0.band && !$1.0.band }) where !points.isEmpty {
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" \(stroke(s))/>"
            if points.count == 1 { svg += "<circle cx=\"\(f(px(points[0].x)))\" cy=\"\(f(py(points[0].y)))\" r=\"3\" fill=\"\(s.color)\"/>" }
        }
        for (index, x, row) in legend {
            let s = series[index], y = height - 17 * Double(legendRows - row) + 7
            svg += "<line x1=\"\(f(x))\" x2=\"\(f(x + 20))\" y1=\"\(f(y - 4))\" y2=\"\(f(y - 4))\" \(stroke(s))/>"
            svg += "<text x=\"\(f(x + 25))\" y=\"\(f(y))\" class=\"tick\">\(escapeHTML(s.label))</text>"
        }
        return svg + "</svg>"
    }

    /// About five round tick values covering [low, high].
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        let raw = (high - low) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var t = ceil(low / step) * step
        while t <= high + step * 1e-9 { ticks.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return ticks
    }

    /// A number rounded for people: whole numbers as such, else two or three significant
    /// digits; magnitudes below 10⁻⁴ (a grid's zero after rounding errors) read 0.
    static func label(_ v: Double) -> String {
        if abs(v) < 1e-4 { return "0" }
        return v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: abs(v) >= 10 ? "%.0f" : abs(v) >= 1 ? "%.1f" : "%.2g", v)
    }
}

/// Text made safe inside HTML or SVG.
func escapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
