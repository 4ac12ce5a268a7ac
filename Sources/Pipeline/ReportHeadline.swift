import Foundation
import Invariance

/// What a learned width means, in plain words: "Full rotation invariance: ±180°",
/// "No horizontal translation invariance: ±0.3 px".
public struct ReportHeadline: Equatable {
    public enum Verdict: String { case full, partial, none, notLearned = "not learned" }
    public let generator: String
    public let verdict: Verdict
    /// The sentence, e.g. "Rotation invariance: ±45°".
    public let text: String
    /// The interval alone, e.g. "±45°", "×0.80–×1.25".
    public let range: String

    /// Below these half-widths a width counts as no invariance: 5°, 1 pixel, 5% of scale, slope 0.05.
    static let thresholds = (degrees: 5.0, pixels: 1.0, factor: 1.05, slope: 0.05)

    public init(_ invariance: InvarianceReport.Invariance) {
        generator = invariance.generator
        let (low, high) = (invariance.interval.first ?? 0, invariance.interval.last ?? 0)
        let noun: String
        switch invariance.generator {
        case "translate_x": noun = "horizontal translation invariance"
        case "translate_y": noun = "vertical translation invariance"
        case "rotation": noun = "rotation invariance"
        case "scale": noun = "scale invariance"
        case "stretch": noun = "stretch invariance"
        case "shear": noun = "shear invariance"
        default: noun = "\(invariance.generator) invariance"
        }
        func number(_ v: Double) -> String { String(format: abs(v) >= 10 ? "%.0f" : "%.1f", v) }
        let verdict: Verdict
        switch invariance.unit {
        case "degrees":
            range = "±\(number(high))°"
            verdict = high >= 179.5 ? .full : high < Self.thresholds.degrees ? .none : .partial
        case "pixels":
            range = "±\(number(high)) px"
            verdict = high < Self.thresholds.pixels ? .none : .partial
        case "factor":
            range = "×\(String(format: "%.2f", low))–×\(String(format: "%.2f", high))"
            verdict = high < Self.thresholds.factor ? .none : .partial
        default:
            range = "slope ±\(String(format: "%.2f", high))"
            verdict = high < Self.thresholds.slope ? .none : .partial
        }
        self.verdict = invariance.learned ? verdict : .notLearned
        switch self.verdict {
        case .full: text = "Full \(noun): \(range)"
        case .partial: text = "\(noun.prefix(1).uppercased() + noun.dropFirst()): \(range)"
        case .none: text = "No \(noun): \(range)"
        case .notLearned: text = "\(noun.prefix(1).uppercased() + noun.dropFirst()) not learned (fixed at none)"
        }
    }
}
