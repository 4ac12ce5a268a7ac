import Bundle
import Foundation
import Invariance
import NN

/// report.html and report.md, rendered from report.json alone (so `augerino report DIR` can
/// render results of older versions again). The HTML page is one self-contained file: inline
/// CSS and SVG, pictures as data URIs, no script, nothing fetched.
public enum ReportPages {
    /// Writes report.html and report.md into `folder`, each atomically.
    public static func write(_ report: InvarianceReport, into folder: URL) throws {
        try AtomicFile.write(Data(html(report).utf8), to: folder.appendingPathComponent("report.html"))
        try AtomicFile.write(Data(markdown(report).utf8), to: folder.appendingPathComponent("report.md"))
    }

    /// Reads DIR/report.json and writes the pages beside it.
    /// - Throws: `ReportError` when report.json is missing, unreadable or not a report.
    public static func render(folder: URL) throws {
        let file = folder.appendingPathComponent("report.json")
        guard let data = FileManager.default.contents(atPath: file.path) else { throw ReportError.missing(file: file.path) }
        let report: InvarianceReport
        do { report = try JSONDecoder().decode(InvarianceReport.self, from: data) } catch {
            throw ReportError.notAReport(file: file.path, reason: "\(error)")
        }
        try write(report, into: folder)
    }

    static func isClassification(_ report: InvarianceReport) -> Bool { report.task == "classification" }

    static func metricName(_ report: InvarianceReport) -> (key: String, label: String) {
        isClassification(report) ? ("accuracy", "accuracy") : ("mse", "MSE")
    }

    static func percentOrValue(_ report: InvarianceReport, _ value: Double?) -> String {
        guard let value else { return "–" }
        return isClassification(report) ? String(format: "%.2f%%", value * 100) : String(format: "%.4g", value)
    }

    static func copies(_ report: InvarianceReport) -> String { report.settings["test_copies"] ?? "N" }

    /// One headline per generator, each with what its probe sweep supports (when there is one).
    static func headlines(_ report: InvarianceReport) -> [ReportHeadline] {
        report.invariances.map { invariance in
            let sweep = report.probes.first { $0.generator == invariance.generator }
            return ReportHeadline(invariance, tolerance: sweep?.tolerated(regression: !isClassification(report)), regression: !isClassification(report))
        }
    }

    // MARK: Markdown

    public static func markdown(_ report: InvarianceReport) -> String {
        let label = metricName(report).label
        var md = "# \(report.name.escapingControlCharacters): learned invariances\n\n"
        md += "\(report.task.capitalized) task, \(report.settings["model"] ?? "model"), \(report.history.count) epochs.\n\n"
        let headlines = headlines(report)
        for h in headlines {
            md += "- **\(h.text)**" + (h.resampled.map { " (\($0) over resamples of the images read)" } ?? "")
                + (h.tolerated.map { "; the trained model tolerates \($0) (held-out \(label) within noise)" } ?? "") + "\n"
        }
        md += copiesTable(report).markdown
        md += widthsTable(report, headlines).markdown
        if !report.probes.isEmpty {
            md += "\n## Probes: test \(label) when every input is transformed (\(copies(report)) copies / one pass)\n\n"
            for sweep in report.probes {
                md += "**\(sweep.generator)** (\(sweep.unit)): " + sweep.points.map {
                    "\(SVGChart.label($0.natural)) → \(percentOrValue(report, $0.metric)) / \(percentOrValue(report, $0.metricSingle))"
                }.joined(separator: "; ") + "\n\n"
            }
        }
        md += historyTable(report).markdown
        md += settingsTable(report).markdown
        return md
    }

    /// A time per image, always in milliseconds (one unit per column).
    static func seconds(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: value >= 0.1 ? "%.0f ms" : "%.2f ms", value * 1000)
    }

    // MARK: Tables (both pages)

    static func copiesTable(_ report: InvarianceReport) -> ReportTable {
        let (key, label) = metricName(report)
        return ReportTable(title: "Test \(label): copies against a single pass", header: ["predictor", "test \(label)", "time per image"], rows: [
            [.text("\(copies(report)) augmented copies averaged"), .text(percentOrValue(report, report.metrics["test_\(key)"])),
             .text(seconds(report.metrics["test_seconds_per_image"]))],
            [.text("one plain pass"), .text(percentOrValue(report, report.metrics["test_\(key)_single"])),
             .text(seconds(report.metrics["test_seconds_per_image_single"]))],
        ])
    }

    static func widthsTable(_ report: InvarianceReport, _ headlines: [ReportHeadline]) -> ReportTable {
        ReportTable(title: "Widths", header: ["generator", "learned", "θ", "start θ", "interval", "tolerated (held-out)"],
                    rows: zip(report.invariances, headlines).map { i, h in
                        [.text(i.generator), .text(i.learned ? "yes" : "no"), .text(String(format: "%.3g", i.theta)),
                         .text(String(format: "%.3g", i.initialTheta)), .text(h.range), .text(h.tolerated ?? "–")]
                    })
    }

    static func historyTable(_ report: InvarianceReport) -> ReportTable {
        let label = metricName(report).label
        return ReportTable(title: "History", header: ["epoch", "train loss", "train \(label)", "held-out \(label) (one pass)", "seconds"],
                           rows: report.history.map { r in
                               [.text("\(r.epoch)"), .text(String(format: "%.4f", r.trainLoss)), .text(percentOrValue(report, r.trainMetric)),
                                .text(percentOrValue(report, r.testMetric)), .text(String(format: "%.1f", r.seconds))]
                           })
    }

    /// Everything that reproduces the run, with the data's hashes.
    static func settingsTable(_ report: InvarianceReport) -> ReportTable {
        ReportTable(title: "Settings: reproduce this run", header: ["setting", "value"],
                    rows: report.settings.sorted { $0.key < $1.key }.map { [.text($0.key), .code($0.value)] }, rowHeaders: true, style: "data settings")
    }

    // MARK: HTML

    public static func html(_ report: InvarianceReport) -> String {
        let (key, label) = metricName(report)
        let headlines = headlines(report)
        var body = "<header><h1>\(escapeHTML(report.name.escapingControlCharacters))</h1><p class=\"sub\">Learned invariances · \(escapeHTML(report.task)) · "
        body += "\(escapeHTML(report.settings["model"] ?? "model")) · \(report.history.count) epochs · test \(label) "
        body += "\(percentOrValue(report, report.metrics["test_\(key)"])) with \(copies(report)) copies</p></header>"

        body += "<section><h2>What the model learned to ignore</h2><ul class=\"headlines\">"
        for h in headlines {
            body += "<li class=\"\(h.verdict == .notLearned ? "not-learned" : h.verdict.rawValue)\"><span class=\"badge\">\(escapeHTML(h.verdict.rawValue))</span> \(escapeHTML(h.text))"
            if let resampled = h.resampled { body += "<span class=\"tolerated\">resampled \(escapeHTML(resampled))</span>" }
            if let tolerated = h.tolerated { body += "<span class=\"tolerated\">tolerates \(escapeHTML(tolerated))</span>" }
            body += "</li>"
        }
        body += "</ul><p class=\"note\">An interval is the range of the transformation the model was trained to treat as the same input: "
        body += "ε is drawn uniformly from [−θ/2, θ/2] for each generator. Below ±5°, ±1 px, ×1.05 or slope ±0.05 it counts as none."
        if headlines.contains(where: { $0.tolerated != nil }) {
            body += " “Tolerates”: how far every held-out input can be transformed before the trained model's \(label) leaves the noise of the untransformed \(label) "
            body += "(two standard errors; read off the probe sweeps below, between their grid points)."
        }
        body += "</p></section>"

        if let samples = report.samples, !samples.isEmpty {
            let shown = zip(report.invariances, headlines).filter { $0.0.learned && $0.1.verdict != .none }
            let none = zip(report.invariances, headlines).filter { $0.0.learned && $0.1.verdict == .none }.map(\.0.generator)
            body += "<section><h2>What counts as the same</h2><p class=\"note\">Test inputs transformed from one end of each learned interval to the other (middle: unchanged)."
            if !none.isEmpty { body += " Not shown: \(escapeHTML(none.joined(separator: ", "))), learned as none (their pictures would all look unchanged)." }
            body += "</p><table class=\"strip\">"
            for (invariance, headline) in shown {
                body += "<tr><th>\(escapeHTML(invariance.generator))<br><span class=\"range\">\(escapeHTML(headline.range))</span></th><td>"
                for row in ReportPictures.strip(Array(samples.prefix(2)), invariance) {
                    body += "<span class=\"group\">" + row.map { "<img src=\"\($0)\" alt=\"\(escapeHTML(invariance.generator)) sample\">" }.joined() + "</span>"
                }
                body += "</td></tr>"
            }
            body += "</table></section>"
        }

        body += "<section><h2>Training</h2><div class=\"charts\">"
        let epochs = report.history.map { Double($0.epoch) }
        body += SVGChart(title: "Widths θ over training", xLabel: "epoch", yLabel: "θ (log scale)",
                         series: report.invariances.enumerated().filter(\.element.learned).map { index, invariance in
                             SVGChart.Series(label: invariance.generator, points: zip(epochs, report.history).map { ($0, Double($1.theta[invariance.generator] ?? 0)) },
                                             color: SVGChart.palette[index % SVGChart.palette.count])
                         }, logY: true).render()
        body += SVGChart(title: "Loss", xLabel: "epoch", yLabel: "train loss",
                         series: [.init(label: "train loss", points: zip(epochs, report.history).map { ($0, $1.trainLoss) }, color: SVGChart.palette[0])]).render()
        body += SVGChart(title: "Train and test \(label)", xLabel: "epoch", yLabel: label,
                         series: [.init(label: "train", points: zip(epochs, report.history).map { ($0, $1.trainMetric) }, color: SVGChart.palette[0]),
                                  .init(label: "held-out (one pass)", points: zip(epochs, report.history).compactMap { e, r in r.testMetric.map { (e, $0) } },
                                        color: SVGChart.palette[1])]).render()
        body += "</div></section>"

        if !report.probes.isEmpty {
            body += "<section><h2>Probes: transforming every test input</h2><p class=\"note\">Each held-out input transformed by the same amount; "
            body += "shaded: the learned interval. Solid: \(copies(report)) augmented copies averaged; dashed: one plain pass."
            body += isClassification(report) ? " Consistency (wide pale lines): the share of inputs whose predicted class stays the one predicted untransformed.</p>" : "</p>"
            body += "<div class=\"charts\">"
            for sweep in report.probes {
                let invariance = report.invariances.first { $0.generator == sweep.generator }
                let xs = sweep.points.map(\.natural)
                var series: [SVGChart.Series] = [
                    .init(label: "\(label), \(copies(report)) copies", points: zip(xs, sweep.points).map { ($0, $1.metric) }, color: SVGChart.palette[0]),
                    .init(label: "\(label), one pass", points: zip(xs, sweep.points).map { ($0, $1.metricSingle) }, color: SVGChart.palette[0], dashed: true),
                ]
                if isClassification(report) {
                    series.append(.init(label: "consistency, \(copies(report)) copies", points: zip(xs, sweep.points).compactMap { x, p in p.consistency.map { (x, $0) } },
                                        color: SVGChart.palette[1], band: true))
                    series.append(.init(label: "consistency, one pass", points: zip(xs, sweep.points).compactMap { x, p in p.consistencySingle.map { (x, $0) } },
                                        color: SVGChart.palette[1], dashed: true, band: true))
                }
                let shaded = invariance.flatMap { $0.learned ? ($0.interval.first ?? 0, $0.interval.last ?? 0) : nil }
                body += SVGChart(title: sweep.generator, xLabel: sweep.unit, yLabel: isClassification(report) ? "share" : label, series: series,
                                 shaded: shaded, yRange: isClassification(report) ? (0, 1) : nil).render()
            }
            body += "</div></section>"
        }

        body += copiesTable(report).html
        body += widthsTable(report, headlines).html
        body += settingsTable(report).html

        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escapeHTML(report.name.escapingControlCharacters)): learned invariances</title>
            <style>\(css)</style></head>
            <body><main>\(body)<footer>augerino · \(escapeHTML(report.schema))</footer></main></body></html>

            """
    }

    static let css = """
        body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
        main{max-width:1100px;margin:0 auto;padding:20px 24px 40px;box-sizing:border-box}
        h1{margin:0 0 4px;font-size:26px}h2{font-size:18px;margin:0 0 10px}
        section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 18px;margin:16px 0;overflow-x:auto}
        .sub,.note,footer{color:#5b6473;font-size:13px}
        .headlines{list-style:none;padding:0;margin:0}.headlines li{padding:6px 0;font-size:17px;border-bottom:1px solid #f0f1f4}
        .badge{display:inline-block;min-width:86px;text-align:center;font-size:12px;border-radius:10px;padding:1px 8px;margin-right:8px;color:#fff;background:#8a94a6}
        .full .badge{background:#1a7f37}.partial .badge{background:#2f6fdf}.none .badge{background:#8a94a6}.not-learned .badge{background:#c8ccd4;color:#333}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:12px}
        svg.chart{width:100%;height:auto;display:block}
        .chart-title{font-size:15px;font-weight:600;fill:#1d2330}.tick{font-size:12px;fill:#4b5463}.axis{font-size:13px;fill:#1d2330}
        .grid{stroke:#eceef2}.frame{fill:none;stroke:#c9ced6}.learned{fill:#2f6fdf;fill-opacity:.12}
        table.strip th{text-align:left;font-weight:600;padding:6px 12px 6px 0;vertical-align:middle;white-space:nowrap}
        .range{font-weight:400;color:#5b6473;font-size:13px}.tolerated{margin-left:12px;font-size:13px;color:#5b6473}
        .group{display:inline-block;margin:2px 14px 2px 0;white-space:nowrap}
        .group img{width:52px;height:52px;image-rendering:pixelated;border:1px solid #dfe2e7;margin-right:2px;background:#000}
        table.data{border-collapse:collapse;font-size:14px}table.data td,table.data th{border-bottom:1px solid #eceef2;padding:5px 12px 5px 0;text-align:left}
        .settings code{font-size:13px;word-break:break-all}
        """
}
