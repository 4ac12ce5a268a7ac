import Foundation

/// A line chart as inline SVG: a few series over a shared x axis, ticks, a legend, and an
/// optional shaded x interval (a learned range). Scales to its container (viewBox).
struct SVGChart {
    struct Series {
        var label: String
        var points: [(x: Double, y: Double)]
        var color: String
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var shaded: (low: Double, high: Double)?
    var yRange: (Double, Double)?
    var width = 560.0, height = 250.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    func render() -> String {
        let left = 56.0, right = 12.0, top = 28.0, bottom = 58.0
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return "" }
        var (x0, x1) = (all.map(\.x).min()!, all.map(\.x).max()!)
        if x0 == x1 { (x0, x1) = (x0 - 1, x1 + 1) }
        var (y0, y1) = yRange ?? (all.map(\.y).min()!, all.map(\.y).max()!)
        if y0 == y1 { (y0, y1) = (y0 - 1, y1 + 1) }
        if yRange == nil { let pad = (y1 - y0) * 0.05; (y0, y1) = (y0 - pad, y1 + pad) }
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
        for tick in Self.ticks(y0, y1) {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\" class=\"tick\">\(Self.label(tick))</text>"
        }
        for tick in Self.ticks(x0, x1) {
            svg += "<text x=\"\(f(px(tick)))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\" class=\"tick\">\(Self.label(tick))</text>"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" class=\"frame\"/>"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 32))\" text-anchor=\"middle\" class=\"axis\">\(escapeHTML(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(escapeHTML(yLabel))</text>"
        for s in series where !s.points.isEmpty {
            let path = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            if s.points.count == 1 { svg += "<circle cx=\"\(f(px(s.points[0].x)))\" cy=\"\(f(py(s.points[0].y)))\" r=\"3\" fill=\"\(s.color)\"/>" }
        }
        var legendX = left
        for s in series {
            svg += "<line x1=\"\(f(legendX))\" x2=\"\(f(legendX + 18))\" y1=\"\(f(height - 10))\" y2=\"\(f(height - 10))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            svg += "<text x=\"\(f(legendX + 22))\" y=\"\(f(height - 6))\" class=\"tick\">\(escapeHTML(s.label))</text>"
            legendX += 30 + Double(s.label.count) * 6.5
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

    static func label(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: abs(v) >= 10 ? "%.0f" : abs(v) >= 1 ? "%.1f" : "%.2g", v)
    }
}

/// Text made safe inside HTML or SVG.
func escapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
