import Foundation
import Invariance

/// One width the benchmark judges: an affine generator's or a photometric family's, or a
/// mirror's probability (its "width" here).
enum FidelityAxis: Hashable {
    case affine(AffineGenerator)
    case photometric(PhotometricFamily)
    case symmetry(SymmetryFamily)

    /// The affine generators, then the photometric families, then the mirrors, in their orders.
    static let allCases: [FidelityAxis] = AffineGenerator.allCases.map { .affine($0) } + PhotometricFamily.allCases.map { .photometric($0) }
        + SymmetryFamily.allCases.map { .symmetry($0) }

    var name: String {
        switch self {
        case .affine(let generator): return generator.rawValue
        case .photometric(let family): return family.rawValue
        case .symmetry(let family): return family.rawValue
        }
    }

    /// The interval of width θ in natural units, and the unit (as the report writes it).
    func interval(theta: Float, size: Int) -> ([Double], String) {
        switch self {
        case .affine(let generator): return naturalInterval(generator, theta: theta, height: size, width: size)
        case .photometric(let family): return family.naturalInterval(theta: theta)
        case .symmetry: return ([0, Double(theta)], "probability")
        }
    }

    /// The interval of width θ as text: ±45.0°, ±2.00 px, ×0.83–×1.20, slope ±0.20, ±20.0%.
    func range(theta: Float, size: Int) -> String {
        let (interval, unit) = interval(theta: theta, size: size)
        return naturalRangeText(low: interval.first ?? 0, high: interval.last ?? 0, unit: unit, precision: .fixed)
    }
}

extension PlantedTransformation {
    /// The full width θ planted along `axis` (0 when it is not planted).
    func width(_ axis: FidelityAxis) -> Float {
        switch axis {
        case .affine(let generator): return width(generator)
        case .photometric(let family): return width(family)
        case .symmetry(let family): return probability(family)
        }
    }
}

/// What one run learned.
struct FidelityOutcome {
    let widths: [FidelityAxis: Float]
    let testMetric: Double
    let regression: Bool
    /// Epochs run, and the run's budget (more when the answer settled early).
    let epochs: Int, budget: Int
    let seconds: Double
    /// The spread's readings before and after the alignment's own error (the spread objective).
    var reading: String? = nil

    /// "read in 20 s", "30 epochs in 95 s", "12 of 30 (settled) epochs in 40 s".
    func durationText(readOnly: Bool) -> String {
        let what = readOnly ? "read" : "\(epochs)\(epochs < budget ? " of \(budget) (settled)" : "") epochs"
        return what + " in \(String(format: "%.0f", seconds)) s"
    }

    var metricText: String {
        testMetric.isNaN ? "–" : regression ? String(format: "MSE %.3f", testMetric) : String(format: "%.1f%%", testMetric * 100)
    }
}

/// One generator of one case: what was expected, what each seed learned, and whether it passes.
struct FidelityRow {
    enum Expectation {
        /// Planted θ, recovered within the relative tolerance (and below a half-width, for a control).
        case within(Float, Double, Double?)
        /// Not planted: must read as none, or within the tolerance of the source's own width.
        case none(Double)
        /// Not judged (shown for information).
        case anything
        /// A negative control: half-width below this (natural units).
        case below(Double, String)
    }
    let name: String
    let generator: FidelityAxis
    let size: Int
    let expected: Expectation
    /// The source case's own width (nil: judged as it stands).
    let source: Float?
    let recovered: [Float]
    let metrics: [String]

    /// The width beyond the source's own: √(θ² − θ_source²), at least 0.
    func beyondSource(_ theta: Float) -> Float { source.map { (max(0, theta * theta - $0 * $0)).squareRoot() } ?? theta }

    /// What a planted θ should read as: √(θ² + θ_source²).
    func withSource(_ planted: Float) -> Float { source.map { (planted * planted + $0 * $0).squareRoot() } ?? planted }

    func passes(_ theta: Float) -> Bool {
        let high = generator.interval(theta: beyondSource(theta), size: size).0.last ?? 0
        switch expected {
        case .within(let planted, let tolerance, let limit):
            // A turn of the whole circle is the whole circle, with the source's or without.
            let circle: (Float) -> Float = { generator == .affine(.rotation) || generator == .photometric(.hue) ? min($0, 2 * .pi) : $0 }
            return abs(Double(circle(theta) / circle(withSource(planted))) - 1) <= tolerance && (limit.map { high <= $0 } ?? true)
        case .none(let tolerance):
            return Self.readsAsNone(generator, high: high) || source.map { abs(Double(theta / $0) - 1) <= tolerance } ?? false
        case .anything:
            return true
        case .below(let halfWidth, _):
            return high < halfWidth
        }
    }

    var passes: Bool { recovered.allSatisfy(passes) }

    /// Whether the generator was planted (judged against the planted width, not beyond the source).
    var isPlanted: Bool {
        if case .within = expected { return true }
        return false
    }

    /// Whether the row is a check (the others are shown for information).
    var isJudged: Bool {
        if case .anything = expected { return false }
        return true
    }

    /// The report's "none": below 5°, 1 px, ×1.05 or slope 0.05; brightness below ±5%,
    /// contrast, gamma and saturation below ×1.05, hue below ±5°, a mirror's probability below
    /// 0.05 (`ReportHeadline`).
    static func readsAsNone(_ generator: FidelityAxis, high: Double) -> Bool {
        switch generator {
        case .affine(.rotation): return high < 5
        case .affine(.translateX), .affine(.translateY): return high < 1
        case .affine(.scale), .affine(.stretch): return high < 1.05
        case .affine(.shear): return high < 0.05
        case .photometric(.brightness): return high < 5
        case .photometric(.contrast), .photometric(.gamma), .photometric(.saturation): return high < 1.05
        case .photometric(.hue): return high < 5
        case .symmetry: return high < 0.05
        }
    }

    /// The interval of width θ as the report writes it: ±45°, ±2.0 px, ×0.83–1.20, slope ±0.20.
    static func range(_ generator: FidelityAxis, theta: Float, size: Int) -> String {
        generator.range(theta: theta, size: size)
    }

    var expectedText: String {
        switch expected {
        case .within(let planted, let tolerance, let limit):
            return "\(Self.range(generator, theta: planted, size: size)) (θ \(String(format: "%.3f", planted))" +
                (source.map { " with the source's \(String(format: "%.3f", $0)): θ \(String(format: "%.3f", withSource(planted)))" } ?? "") +
                ", ±\(Int(tolerance * 100))%" + (limit.map { "; at most ±\(Int($0))" } ?? "") + ")"
        case .none(let tolerance):
            return "none" + sourceText + (source == nil ? "" : " or within ±\(Int(tolerance * 100))% of it")
        case .anything: return "not judged"
        case .below(let halfWidth, _): return "none (control: below ±\(Int(halfWidth)))" + sourceText
        }
    }

    private var sourceText: String {
        source.map { " beyond the source's \(Self.range(generator, theta: $0, size: size)) (θ \(String(format: "%.3f", $0)))" } ?? ""
    }

    /// The table's first two lines.
    static func header(seeds: Int) -> String {
        "| case | generator | planted | " + (0..<seeds).map { "seed \($0)" }.joined(separator: " | ") + " | test | pass |\n" +
            "|---|---|---|" + String(repeating: "---|", count: seeds) + "---|---|"
    }

    /// This row of the table.
    var markdown: String {
        let learned = recovered.map { theta in
            // What lies beyond the source is what an unplanted generator or a control is judged on.
            let beyond = source == nil || isPlanted ? "" : "; beyond the source \(Self.range(generator, theta: beyondSource(theta), size: size))"
            return "\(Self.range(generator, theta: theta, size: size)) (θ \(String(format: "%.3f", theta))\(beyond))\(passes(theta) ? "" : " ✗")"
        }
        return "| \(name) | \(generator.name) | \(expectedText) | \(learned.joined(separator: " | ")) | " +
            "\(metrics.joined(separator: ", ")) | \(!isJudged ? "–" : passes ? "yes" : "**no**") |"
    }
}
