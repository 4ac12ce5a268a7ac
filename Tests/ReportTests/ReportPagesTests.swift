import Bundle
import Foundation
@testable import Invariance
@testable import Report
import TestSupport
import XCTest

final class ReportPagesTests: XCTestCase {
    /// A report as training writes it: full rotation, no translation, a partial scale, probes,
    /// history and two sample images (an L and a bar).
    func sampleReport() -> InvarianceReport {
        let widths: [AffineGenerator: Float] = [.translateX: 0.6, .translateY: 0.02, .rotation: 6.6, .scale: 0.5, .stretch: 0.01, .shear: 0.02]
        let history = (1...5).map { (epoch: Int) -> EpochRecord in
            let e = Double(epoch)
            let theta: [String: Float] = Dictionary(uniqueKeysWithValues: widths.map { ($0.key.rawValue, $0.value * Float(epoch) / 5) })
            return EpochRecord(epoch: epoch, trainLoss: 1 / e, trainMetric: 0.5 + 0.09 * e, testMetric: 0.5 + 0.08 * e, theta: theta, seconds: 1.5)
        }
        let probes = AffineGenerator.allCases.map { (generator: AffineGenerator) -> ProbeSweep in
            let points = probeMagnitudes(generator, height: 12, width: 12).map { (epsilon: Float) -> ProbeSweep.Point in
                let e = Double(abs(epsilon))
                return ProbeSweep.Point(epsilon: epsilon, natural: naturalValue(generator, epsilon: epsilon, height: 12, width: 12).0,
                                        metric: 0.9 - e / 10, metricSingle: 0.85 - e / 8, consistency: 1 - e / 5, consistencySingle: 0.95 - e / 4)
            }
            return ProbeSweep(generator: generator.rawValue, unit: naturalValue(generator, epsilon: 0, height: 12, width: 12).1, points: points)
        }
        var report = InvarianceReport(name: "test <data>", task: .classification(classes: 3), widths: widths, initial: widths.mapValues { _ in 0.69 },
                                      learned: Set(AffineGenerator.allCases), imageHeight: 12, imageWidth: 12,
                                      metrics: ["test_accuracy": 0.93, "test_accuracy_single": 0.91, "test_seconds_per_image": 0.004,
                                                "test_seconds_per_image_single": 0.001, "train_loss": 0.2, "train_accuracy": 0.95],
                                      history: history, probes: probes,
                                      settings: ["seed": "0", "bundle_sha256": String(repeating: "ab", count: 32), "test_copies": "4", "model": "smallnet(8)"])
        let l = (0..<144).map { i -> Float in (i % 12 == 3 && i / 12 > 2) || (i / 12 == 9 && i % 12 > 2 && i % 12 < 9) ? 255 : 0 }
        let bar = (0..<144).map { i -> Float in i / 12 == 6 ? 200 : 10 }
        report.samples = [.init(shape: [1, 12, 12], values: l), .init(shape: [1, 12, 12], values: bar)]
        return report
    }

    func test_headlines_sayTheVerdictInPlainWordsAndNaturalUnits() {
        let lines = sampleReport().invariances.map { ReportHeadline($0).text }
        XCTAssertEqual(lines[2], "Full rotation invariance: ±180°")
        XCTAssertEqual(lines[0], "No horizontal translation invariance: ±0.17 px")
        XCTAssertEqual(lines[3], "Scale invariance: ×0.78–×1.28")
        XCTAssertEqual(lines[5], "No shear invariance: slope ±0.01")
        let partial = InvarianceReport.Invariance(generator: "rotation", learned: true, theta: 1.57, initialTheta: 0.69, interval: [-45, 45], unit: "degrees")
        XCTAssertEqual(ReportHeadline(partial).text, "Rotation invariance: ±45°")
        XCTAssertEqual(naturalRangeText(low: -20, high: 35, unit: "degrees"), "−20°…+35°", "a minus sign, not a hyphen")
        XCTAssertEqual(naturalRangeText(low: -0.1, high: 0.3, unit: "slope"), "slope −0.10…+0.30")
        let fixed = InvarianceReport.Invariance(generator: "shear", learned: false, theta: 0, initialTheta: 0, interval: [0, 0], unit: "slope")
        XCTAssertEqual(ReportHeadline(fixed).verdict, .notLearned)
        var hue = InvarianceReport.Invariance(generator: "hue", learned: true, theta: 2 * .pi, initialTheta: 0.69, interval: [-180, 180], unit: "degrees")
        XCTAssertEqual(ReportHeadline(hue).text, "Full hue invariance: ±180°")
        let saturation = InvarianceReport.Invariance(generator: "saturation", learned: true, theta: 0.6, initialTheta: 0.69, interval: [0.74, 1.35], unit: "factor")
        XCTAssertEqual(ReportHeadline(saturation).text, "Saturation invariance: ×0.74–×1.35")
        (hue.learned, hue.theta, hue.interval, hue.leftOut) = (false, 0, [0, 0], "hue needs red, green and blue; these images have 1 channel")
        XCTAssertEqual(ReportHeadline(hue).text, "Hue invariance left out: hue needs red, green and blue; these images have 1 channel")
    }

    /// A width the spread objective read carries how far it moves over resamples: in
    /// report.json (θ and the natural intervals at both ends), beside the headline in both
    /// pages; a trained width carries none, and its JSON has no such key.
    func test_aResampledBand_isRecordedAndShownBesideTheHeadline() throws {
        var report = sampleReport()
        XCTAssertFalse(String(decoding: try report.encoded(), as: UTF8.self).contains("theta_band"), "no band without a reading")
        report.setBands([.scale: 0.45...0.55], imageHeight: 12, imageWidth: 12)
        let scale = report.invariances[AffineGenerator.scale.index]
        XCTAssertEqual(scale.thetaBand, [0.45, 0.55])
        XCTAssertEqual(scale.intervalBand?[1][1] ?? 0, exp(0.275), accuracy: 1e-6)
        XCTAssertNil(report.invariances[AffineGenerator.rotation.index].thetaBand, "a generator without a band keeps none")
        XCTAssertEqual(ReportHeadline(scale).resampled, "×0.80–×1.25 to ×0.76–×1.32")
        var pinned = report
        pinned.setBands([.translateY: 0...0], imageHeight: 12, imageWidth: 12)
        XCTAssertNil(ReportHeadline(pinned.invariances[AffineGenerator.translateY.index]).resampled, "a band whose ends read alike is not shown")
        let decoded = try JSONDecoder().decode(InvarianceReport.self, from: try report.encoded())
        XCTAssertEqual(decoded, report, "the band survives report.json")
        XCTAssertTrue(ReportPages.markdown(report).contains("- **Scale invariance: ×0.78–×1.28** (×0.80–×1.25 to ×0.76–×1.32 over resamples of the images read)"))
        XCTAssertTrue(ReportPages.html(report).contains("resampled ×0.80–×1.25 to ×0.76–×1.32"))
    }

    /// A generator along which a regression's target changes is marked in report.json and its
    /// headline says why it is none; the others carry no such key.
    func test_aGeneratorTheTargetFollows_isMarked_andItsHeadlineSaysWhy() throws {
        var report = sampleReport()
        XCTAssertFalse(String(decoding: try report.encoded(), as: UTF8.self).contains("follows_target"))
        report.setFollowsTarget([.translateX])
        let shift = report.invariances[AffineGenerator.translateX.index]
        XCTAssertEqual(shift.followsTarget, true)
        XCTAssertNil(report.invariances[AffineGenerator.rotation.index].followsTarget)
        XCTAssertEqual(ReportHeadline(shift).text, "No horizontal translation invariance: ±0.17 px (the target changes along it)")
        XCTAssertEqual(try JSONDecoder().decode(InvarianceReport.self, from: try report.encoded()), report, "the mark survives report.json")
        XCTAssertTrue(ReportPages.markdown(report).contains("(the target changes along it)"))
    }

    /// A photometric family whose known change moves another's reading as much as its own is
    /// marked with those others in report.json, and its headline says it cannot be told from
    /// them; the rest carry no such key.
    func test_aFamilyNotToldApart_isMarked_andItsHeadlineSaysFromWhat() throws {
        var report = sampleReport()
        report.addPhotometric(widths: [.brightness: 0.95, .contrast: 0.98], initial: [:], learned: [.brightness, .contrast])
        var estimate = PhotometricSpread.Estimate()
        estimate.responses = [.brightness: [.brightness: 1.2, .contrast: 0.58], .contrast: [.brightness: -0.2, .contrast: 0.28]]
        estimate.bands = [.brightness: 0.9...1.0, .contrast: 0.9...1.05]
        report.setPhotometricReading(estimate)
        let (brightness, contrast) = (report.invariances[6], report.invariances[7])
        XCTAssertEqual(contrast.generator, "contrast")
        XCTAssertEqual(contrast.notToldFrom, ["brightness"])
        XCTAssertNil(brightness.notToldFrom)
        XCTAssertEqual(contrast.thetaBand, [0.9, 1.05], "the bands are set with it")
        XCTAssertEqual(ReportHeadline(contrast).text, "Contrast invariance: ×0.61–×1.63 (on these images a change of contrast cannot be told from one of brightness: "
                       + "it moves their readings as much as its own)")
        XCTAssertEqual(try JSONDecoder().decode(InvarianceReport.self, from: try report.encoded()), report, "the mark survives report.json")
        let json = String(decoding: try report.encoded(), as: UTF8.self)
        XCTAssertEqual(json.components(separatedBy: "not_told_from").count, 2, "one row carries the key")
        XCTAssertTrue(ReportPages.markdown(report).contains("cannot be told from one of brightness"))
    }

    func test_html_isOneSelfContainedFile_withHeadlinesPicturesAndCharts() throws {
        let html = ReportPages.html(sampleReport())
        XCTAssertTrue(html.contains("Full rotation invariance: ±180°"))
        XCTAssertTrue(html.contains("test &lt;data&gt;"), "names are escaped")
        // Rotation and scale are learned as more than none: a strip of 5 per sample for each;
        // the four generators learned as none are named instead of shown unchanged five times.
        XCTAssertEqual(html.components(separatedBy: "<img src=\"data:image/png;base64,").count - 1, 2 * 2 * 5, "a strip of 5 per sample per generator that is not none")
        XCTAssertTrue(html.contains("Not shown: translate_x, translate_y, stretch, shear, learned as none"), "the none generators are named")
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: "<svg").count - 1, 3 + 6, "training charts and a probe chart per generator")
        XCTAssertTrue(html.contains("class=\"learned\""), "the learned interval is shaded in the probes")
        for external in ["src=\"http", "href=\"http", "url(", "<script", "<link"] {
            XCTAssertFalse(html.contains(external), "nothing fetched or run: found \(external)")
        }
        XCTAssertTrue(html.contains(String(repeating: "ab", count: 32)), "the data hash is shown")
    }

    func test_markdown_hasTheHeadlinesAndTables() {
        let md = ReportPages.markdown(sampleReport())
        XCTAssertTrue(md.contains("- **Full rotation invariance: ±180°**"))
        XCTAssertTrue(md.contains("| 4 augmented copies averaged | 93.00% | 4.00 ms |"), md)
        XCTAssertTrue(md.contains("| one plain pass | 91.00% | 1.00 ms |"), md)
        XCTAssertTrue(md.contains("| bundle_sha256 | `" + String(repeating: "ab", count: 32) + "` |"))
        XCTAssertTrue(md.contains("| rotation | yes | 6.6 | 0.69 | ±180° |"), "widths rounded for people, the interval as the headline says it: \(md)")
        XCTAssertFalse(md.contains("e-0"), "no number in scientific notation (a grid's zero after rounding reads 0): \(md)")
    }

    /// A table is described once; both pages show its rows, each escaping what a bundle wrote.
    func test_aTable_rendersTheSameRowsInBothPages_escapedForEach() {
        let table = ReportTable(title: "Settings", header: ["setting", "value"],
                                rows: [[.text("bundle"), .code("a|b\n| forged | row |")], [.text("name"), .text("<script>x</script>")]], rowHeaders: true)
        let md = table.markdown.split(separator: "\n")
        XCTAssertEqual(md.count, 5, "heading, header, rule and two rows; the newline did not start a row: \(md)")
        XCTAssertEqual(md[3], "| bundle | `a\\|b\\n\\| forged \\| row \\|` |")
        XCTAssertEqual(table.html.components(separatedBy: "<tr>").count - 1, 3)
        XCTAssertTrue(table.html.contains("<tr><th>name</th><td>&lt;script&gt;x&lt;/script&gt;</td></tr>"), table.html)
        let report = sampleReport()
        let (pageMD, pageHTML) = (ReportPages.markdown(report), ReportPages.html(report))
        for table in [ReportPages.copiesTable(report), ReportPages.widthsTable(report, ReportPages.headlines(report)), ReportPages.settingsTable(report)] {
            XCTAssertTrue(pageMD.contains(table.markdown), table.title)
            XCTAssertTrue(pageHTML.contains(table.html), table.title)
        }
    }

    /// A sweep whose accuracy is 0.9 within ±1 and falls by 0.1 per unit beyond, on 400 inputs:
    /// noise allows 2·√(2·0.9·0.1/400) ≈ 0.0424, so the band ends at ±1.424.
    func sweep(images: Int?, regression: Bool = false) -> ProbeSweep {
        let points = (-3...3).map { x -> ProbeSweep.Point in
            let drop = 0.1 * max(0, Double(abs(x)) - 1)
            let metric = regression ? 0.5 + drop : 0.9 - drop
            return ProbeSweep.Point(epsilon: Float(x), natural: Double(x) * 10, metric: metric, metricSingle: metric, consistency: nil, consistencySingle: nil)
        }
        return ProbeSweep(generator: "rotation", unit: "degrees", points: points, images: images)
    }

    func test_tolerated_isWhereTheHeldOutMetricLeavesItsNoise_interpolatedBetweenGridPoints() throws {
        let band = try XCTUnwrap(sweep(images: 400).tolerated(regression: false))
        XCTAssertEqual(band.high, 14.24, accuracy: 0.01)
        XCTAssertEqual(band.low, -14.24, accuracy: 0.01)
        XCTAssertFalse(band.reachesLowEnd || band.reachesHighEnd)
        // Regression: an MSE of 0.5 may grow by 2·√(2/200)·0.5 = 0.1, to 0.6: ±2 units → ±20.
        let mse = try XCTUnwrap(sweep(images: 200, regression: true).tolerated(regression: true))
        XCTAssertEqual(mse.high, 20, accuracy: 0.01)
        // Flat everywhere: the band is the whole sweep, and says it may reach further.
        var flat = sweep(images: 400)
        for i in flat.points.indices { flat.points[i].metric = 0.9 }
        let whole = try XCTUnwrap(flat.tolerated(regression: false))
        XCTAssertTrue(whole.reachesLowEnd && whole.reachesHighEnd)
        XCTAssertEqual(ReportHeadline.rangeText(whole, unit: "degrees"), "±30° or more")
        XCTAssertNil(sweep(images: nil).tolerated(regression: false), "older reports do not say how many inputs were probed")
    }

    func test_headline_claimsNoMoreThanTheHeldOutInputsSupport() throws {
        let wide = InvarianceReport.Invariance(generator: "rotation", learned: true, theta: 1.2, initialTheta: 0.69, interval: [-34, 34], unit: "degrees")
        let tolerance = try XCTUnwrap(sweep(images: 400).tolerated(regression: false))
        let headline = ReportHeadline(wide, tolerance: tolerance)
        XCTAssertEqual(headline.text, "Rotation invariance: ±34°, but held-out accuracy holds only within ±14°")
        XCTAssertEqual(headline.tolerated, "±14°")
        let narrow = InvarianceReport.Invariance(generator: "rotation", learned: true, theta: 0.4, initialTheta: 0.69, interval: [-12, 12], unit: "degrees")
        XCTAssertEqual(ReportHeadline(narrow, tolerance: tolerance).text, "Rotation invariance: ±12°", "within what the held-out inputs support: no caveat")
        var report = sampleReport()
        report.probes = report.probes.map { ProbeSweep(generator: $0.generator, unit: $0.unit, points: $0.points, images: 250) }
        let html = ReportPages.html(report), md = ReportPages.markdown(report)
        XCTAssertTrue(html.contains("<span class=\"tolerated\">tolerates ") && html.contains("tolerated (held-out)"), "headlines and the widths table say what is tolerated")
        XCTAssertTrue(md.contains("; the trained model tolerates "), md)
    }

    func test_charts_drawTheirTextLargeEnough_andWrapLongLegends() {
        let series = (0..<4).map { SVGChart.Series(label: "consistency, 4 copies \($0)", points: [(0, 0.5), (1, 0.7)], color: "#000", band: $0 % 2 == 0) }
        let chart = SVGChart(title: "t", xLabel: "x", yLabel: "y", series: series)
        let rows = Set(chart.legendLayout(left: 58, right: 12).map(\.row))
        XCTAssertGreaterThan(rows.count, 1, "four long entries do not fit one row of a 480-unit chart")
        // In a two-column grid at 1,100 px a chart is about 500 px wide: its 480-unit viewBox is
        // drawn at about 1.04×, so 12-unit ticks come out at ≥ 11 px.
        XCTAssertLessThanOrEqual(chart.width, 500)
        XCTAssertTrue(ReportPages.css.contains(".tick{font-size:12px") && ReportPages.css.contains("minmax(440px,1fr)"), ReportPages.css)
        let svg = chart.render()
        XCTAssertEqual(svg.components(separatedBy: "stroke-opacity=\"0.3\"").count - 1, 2 * 2, "bands drawn wide and pale, in the plot and the legend")
        XCTAssertEqual(SVGChart.label(1.4e-05), "0")
        XCTAssertEqual(SVGChart.label(0.25), "0.25")
    }

    func test_strip_turnsTheSampleAcrossTheInterval_andTheMiddleIsTheInput() throws {
        let report = sampleReport()
        let rotation = report.invariances[2]
        XCTAssertEqual(ReportPictures.steps(rotation).map { ($0 * 1000).rounded() / 1000 }, [-3.142, -1.571, 0, 1.571, 3.142], "rotation at most the circle")
        let strip = ReportPictures.strip(Array(report.samples!.prefix(1)), rotation)[0]
        func pixels(_ uri: String) throws -> [Float] {
            try PNG.decode(Data(base64Encoded: String(uri.dropFirst("data:image/png;base64,".count)))!, file: "strip").values
        }
        XCTAssertEqual(try pixels(strip[2]), report.samples![0].values.map { $0 > 0 ? 255 : 0 }, "the middle picture is the untransformed input")
        XCTAssertNotEqual(try pixels(strip[3]), try pixels(strip[2]), "a quarter turn changes the picture")
    }

    /// A mirror's row reads as its probability with what it means: ½ the same class, 0 a
    /// different thing, between a share of mirror images; its probe says whether the model
    /// holds mirrored; its strip is the sample as it is and mirrored.
    func test_mirrorRows_sayWhatTheirProbabilityMeans() throws {
        func row(_ generator: String, _ p: Float) -> InvarianceReport.Invariance {
            InvarianceReport.Invariance(generator: generator, learned: true, theta: p, initialTheta: 0.25, interval: [0, Double(p)], unit: "probability")
        }
        XCTAssertEqual(ReportHeadline(row("horizontal_flip", 0.49)).text, "Horizontal mirror invariance: p 0.49 (mirrored images are the same class)")
        XCTAssertEqual(ReportHeadline(row("horizontal_flip", 0.49), regression: true).text,
                       "Horizontal mirror invariance: p 0.49 (mirrored images are the same target)")
        XCTAssertEqual(ReportHeadline(row("vertical_flip", 0.02)).text, "No vertical mirror invariance: p 0.02 (mirroring changes what these images are)")
        var formless = row("vertical_flip", 0)
        formless.noOneForm = true
        XCTAssertEqual(ReportHeadline(formless).text,
                       "No vertical mirror invariance: p 0.00 (no class's images share one form to compare mirrored images with, so none is applied)")
        var marked = sampleReport()
        marked.addSymmetry(probabilities: [.verticalFlip: 0, .transpose: 0], initial: [:], learned: [.verticalFlip, .transpose])
        marked.setNoOneForm([.verticalFlip, .transpose])
        XCTAssertEqual(marked.invariances.filter { $0.noOneForm == true }.map(\.generator), ["vertical_flip", "transpose"])
        XCTAssertTrue(String(decoding: try marked.encoded(), as: UTF8.self).contains("\"no_one_form\" : true"))
        // The affine widths read beside them are marked, and a width that is more than none says so.
        marked.setClassesWithoutOneForm(Set(AffineGenerator.allCases), withinForms: true)
        let rotation = try XCTUnwrap(marked.invariances.first { $0.generator == "rotation" })
        XCTAssertEqual(rotation.classesWithoutOneForm, rotation.learned ? true : nil)
        XCTAssertNil(marked.invariances.first { $0.generator == "vertical_flip" }?.classesWithoutOneForm, "a mirror carries no_one_form instead")
        XCTAssertTrue(String(decoding: try marked.encoded(), as: UTF8.self).contains("\"classes_without_one_form\" : true"))
        XCTAssertEqual(rotation.readWithinForms, rotation.learned ? true : nil)
        XCTAssertTrue(String(decoding: try marked.encoded(), as: UTF8.self).contains("\"read_within_forms\" : true"))
        // From a spread reading: some classes split (the mirrors found others with one form) mark
        // the affine widths as read within forms; none split and some with one form, nothing.
        let zero = Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.map { ($0, Float(0)) })
        var reading = SpreadEstimator.Estimate(widths: zero, rawWidths: zero, alignmentError: zero, gains: zero, symmetry: SymmetrySpread.Estimate())
        var unsplit = sampleReport()
        unsplit.setSpreadReading(reading, imageHeight: 12, imageWidth: 12)
        XCTAssertTrue(unsplit.invariances.allSatisfy { $0.classesWithoutOneForm == nil && $0.readWithinForms == nil })
        reading.forms = [0: 3, 1: 1]
        var someSplit = sampleReport()
        someSplit.setSpreadReading(reading, imageHeight: 12, imageWidth: 12)
        let split = try XCTUnwrap(someSplit.invariances.first { $0.generator == "rotation" })
        XCTAssertEqual(split.classesWithoutOneForm, true)
        XCTAssertEqual(split.readWithinForms, true)
        XCTAssertTrue(someSplit.invariances.allSatisfy { $0.noOneForm == nil }, "the mirrors found classes with one form")
        var whole = sampleReport()
        whole.setClassesWithoutOneForm(Set(AffineGenerator.allCases), withinForms: false)
        XCTAssertFalse(String(decoding: try whole.encoded(), as: UTF8.self).contains("read_within_forms"), "absent when every class was read whole")
        var wide = InvarianceReport.Invariance(generator: "rotation", learned: true, theta: 2.2, initialTheta: 0.69, interval: [-63, 63], unit: "degrees")
        wide.classesWithoutOneForm = true
        XCTAssertEqual(ReportHeadline(wide).text,
                       "Rotation invariance: ±63° (read from classes whose images share no one form, each whole: their shapes' differences may count as poses)")
        wide.readWithinForms = true
        XCTAssertEqual(ReportHeadline(wide).text,
                       "Rotation invariance: ±63° (read within the forms found in classes whose images share no one form: some of their shapes' differences may still count as poses)")
        wide.interval = [-2, 2]
        XCTAssertEqual(ReportHeadline(wide).text, "No rotation invariance: ±2.0°", "none needs no warning")
        XCTAssertEqual(ReportHeadline(row("transpose", 0.2)).text,
                       "Transpose invariance: p 0.20 (about 20% of the images are transposed forms of the others)")
        XCTAssertEqual(ReportHeadline(row("transpose", 0.2)).verdict, .partial)
        let holds = ToleratedInterval(low: 0, high: 1, lowOutside: nil, highOutside: nil)
        let drops = ToleratedInterval(low: 0, high: 0.4, lowOutside: nil, highOutside: 1)
        XCTAssertEqual(ReportHeadline(row("horizontal_flip", 0.49), tolerance: holds).tolerated, "mirroring")
        XCTAssertEqual(ReportHeadline(row("horizontal_flip", 0.02), tolerance: drops).tolerated, "no mirroring")
        XCTAssertNil(ReportHeadline(row("horizontal_flip", 0.49), tolerance: drops).caveat, "a probability is not an interval the probe cuts short")
        var report = sampleReport()
        report.addSymmetry(probabilities: [.horizontalFlip: 0.45], initial: [.horizontalFlip: 0.25], learned: [.horizontalFlip],
                           leftOut: [.transpose: "transpose needs square images; these are 12×10 pixels (height × width)"])
        XCTAssertEqual(report.invariances.suffix(2).map(\.generator), ["horizontal_flip", "transpose"])
        XCTAssertEqual(ReportHeadline(report.invariances.last!).text,
                       "Transpose invariance left out: transpose needs square images; these are 12×10 pixels (height × width)")
        report.setBands([SymmetryFamily.horizontalFlip: 0.40...0.48])
        XCTAssertEqual(report.invariances[report.invariances.count - 2].intervalBand, [[0, Double(Float(0.40))], [0, Double(Float(0.48))]])
        let strip = ReportPictures.strip(Array(report.samples!.prefix(1)), report.invariances[report.invariances.count - 2])[0]
        XCTAssertEqual(strip.count, 2)
        func pixels(_ uri: String) throws -> [Float] {
            try PNG.decode(Data(base64Encoded: String(uri.dropFirst("data:image/png;base64,".count)))!, file: "strip").values
        }
        let mirrored = SymmetryElement([true, false, false]).apply(to: report.samples![0].values, planes: 1, height: 12, width: 12)
        XCTAssertEqual(try pixels(strip[1]), mirrored.map { $0 > 0 ? 255 : 0 }, "the second picture is the input mirrored")
        XCTAssertTrue(ReportPages.markdown(report).contains("Horizontal mirror invariance: p 0.45"))
    }

    func test_renderAgain_fromReportJSON_writesBothPages() throws {
        let folder = try makeScratchFolder("report")
        defer { try? FileManager.default.removeItem(at: folder) }
        try sampleReport().encoded().write(to: folder.appendingPathComponent("report.json"))
        try ReportPages.render(folder: folder)
        XCTAssertTrue(try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8).hasPrefix("# test <data>"))
        XCTAssertThrowsError(try ReportPages.render(folder: folder.appendingPathComponent("missing"))) { error in
            XCTAssertTrue("\(error)".contains("missing/report.json: no such file, so its folder is not a result folder"), "\(error)")
        }
    }

    /// The page in a real browser: headless Chromium (Debian package `chromium`) renders it,
    /// prints no console message, and the screenshot is not blank.
    func test_html_inHeadlessChromium_hasNoConsoleErrors_andTheScreenshotIsNotBlank() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("needs headless Chromium (apt-get install chromium) to render report.html; skipped")
        }
        let folder = try makeScratchFolder("chromium")
        defer { try? FileManager.default.removeItem(at: folder) }
        try ReportPages.write(sampleReport(), into: folder)
        let shot = folder.appendingPathComponent("shot.png")
        let (log, status) = try runProgram(URL(fileURLWithPath: chromium), [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
            "--user-data-dir=\(folder.appendingPathComponent("profile").path)", "--window-size=1280,2400",
            "--screenshot=\(shot.path)", folder.appendingPathComponent("report.html").absoluteString])
        XCTAssertEqual(status, 0, log)
        let console = log.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        XCTAssertEqual(console, [], "console messages")
        let image = try PNG.decode(Data(contentsOf: shot), file: shot.path)
        XCTAssertEqual(image.width, 1280)
        let distinct = Set(image.values.map { Int($0) })
        let background = image.values.filter { $0 > 240 }.count
        XCTAssertGreaterThan(distinct.count, 50, "the screenshot has text and pictures, not one colour")
        XCTAssertLessThan(Double(background), Double(image.values.count) * 0.99, "not blank")
    }
}
