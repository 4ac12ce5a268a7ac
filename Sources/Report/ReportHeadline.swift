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
    /// What held-out inputs support, when the report has the generator's probe sweep: the
    /// magnitudes over which the trained model's accuracy (or MSE) stays within noise of the
    /// untransformed one (`ProbeSweep.tolerated`), e.g. "±52°", "±180° or more".
    public let tolerated: String?
    /// How far the width moves over resamples of the images it was read from (the spread
    /// objective's `theta_band`), e.g. "±52° to ±60°"; nil when both ends read the same.
    public let resampled: String?
    /// Set when a magnitude inside the learned interval was measured on held-out inputs and
    /// found outside the noise: the sentence that says so ("held-out accuracy holds only
    /// within ±30°"). The headline then claims no more than that; an interpolated end alone
    /// (between coarse grid points) never makes a caveat.
    public let caveat: String?

    /// Below these half-widths a width counts as no invariance: 5°, 1 pixel, 5% of scale (and of
    /// brightness, contrast, gamma and saturation), slope 0.05; 5° of hue as of rotation.
    static let thresholds = (degrees: 5.0, pixels: 1.0, factor: 1.05, slope: 0.05)
    /// A mirror's probability reads as none below 0.05 and as the whole symmetry from 0.45 (½ is
    /// as often as not: the most a probability of applying it can say).
    static let probabilityThresholds = (none: Double(SymmetrySpread.none), full: 0.45)

    public init(_ invariance: InvarianceReport.Invariance, tolerance: ToleratedInterval? = nil, regression: Bool = false) {
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
        case "brightness": noun = "brightness invariance"
        case "contrast": noun = "contrast invariance"
        case "gamma": noun = "gamma invariance"
        case "saturation": noun = "saturation invariance"
        case "hue": noun = "hue invariance"
        case "horizontal_flip": noun = "horizontal mirror invariance"
        case "vertical_flip": noun = "vertical mirror invariance"
        case "transpose": noun = "transpose invariance"
        default: noun = "\(invariance.generator) invariance"
        }
        range = naturalRangeText(low: low, high: high, unit: invariance.unit)
        let verdict: Verdict
        switch invariance.unit {
        case "degrees": verdict = high >= 179.5 ? .full : high < Self.thresholds.degrees ? .none : .partial
        case "pixels": verdict = high < Self.thresholds.pixels ? .none : .partial
        case "factor": verdict = high < Self.thresholds.factor ? .none : .partial
        case "percent": verdict = high < (Self.thresholds.factor - 1) * 100 ? .none : .partial
        case "probability": verdict = high >= Self.probabilityThresholds.full ? .full : high < Self.probabilityThresholds.none ? .none : .partial
        default: verdict = high < Self.thresholds.slope ? .none : .partial
        }
        self.verdict = invariance.learned ? verdict : .notLearned
        let (mirrored, mirroring) = invariance.generator == "transpose" ? ("transposed", "transposing") : ("mirrored", "mirroring")
        tolerated = tolerance.map { t in
            // A mirror's sweep has two points: the images as they are, and with it applied.
            invariance.unit == "probability" ? (t.reachesHighEnd ? mirroring : "no \(mirroring)") : Self.rangeText(t, unit: invariance.unit)
        }
        resampled = invariance.intervalBand.flatMap { band -> String? in
            guard invariance.learned, band.count == 2, band.allSatisfy({ $0.count == 2 }) else { return nil }
            let ends = band.map { naturalRangeText(low: $0[0], high: $0[1], unit: invariance.unit) }
            return ends[0] == ends[1] ? nil : ends.joined(separator: " to ")   // "±0.00 px to ±0.00 px" says nothing
        }
        let measuredInside = invariance.unit == "probability" ? false
            : tolerance.map { t in (t.highOutside.map { $0 < high } ?? false) || (t.lowOutside.map { $0 > low } ?? false) } ?? false
        if self.verdict == .full || self.verdict == .partial, measuredInside {
            caveat = "held-out \(regression ? "MSE" : "accuracy") holds only within \(tolerated!)"
        } else {
            caveat = nil
        }
        // What a mirror's probability means, in words: ½ the same thing, 0 a different one.
        let meaning: String
        if invariance.unit == "probability" {
            let thing = regression ? "the same target" : "the same class"
            switch self.verdict {
            case .full: meaning = " (\(mirrored) images are \(thing))"
            case .none where invariance.noOneForm == true: meaning = " (no class's images share one form to compare \(mirrored) images with, so none is applied)"
            case .none: meaning = " (\(mirroring) changes what these images are)"
            default: meaning = " (about \(Int((high * 100).rounded()))% of the images are \(mirrored) forms of the others)"
            }
        } else if invariance.classesWithoutOneForm == true, self.verdict == .full || self.verdict == .partial {
            // Aligned to a class that mixes shapes, an image's differences from the others read as
            // a pose: digits labelled by a turn within ±30° read ±63°. Read within the forms found
            // in each class (`PoseModes`, twenty forms a class since session 29) the pose cases
            // whose classes were all split read within 12% of their target, except one seed of
            // one (an aspect ×1.1: +2% and +26%); forms found without labels still mix kinds
            // a little (docs/performance.md, "Forms within a class" and after). A class too small
            // to split, or whose form fit fell under the line that splits, is read whole.
            meaning = invariance.readWithinForms == true
                ? " (read within the forms found in classes whose images share no one form: some of their shapes' differences may still count as poses)"
                : " (read from classes whose images share no one form, each whole: their shapes' differences may count as poses)"
        } else if let others = invariance.notToldFrom, !others.isEmpty, invariance.learned {
            // Contrast on white strokes over black is brightening less m·δ (m the mean, 0.13 on
            // MNIST): a known change of it moves the brightness reading more than its own.
            let names = others.count == 1 ? others[0] : others.dropLast().joined(separator: ", ") + " and " + others.last!
            meaning = " (on these images a change of \(invariance.generator) cannot be told from one of \(names): it moves their readings as much as its own)"
        } else {
            meaning = ""
        }
        switch self.verdict {
        case .full where invariance.unit == "probability": text = "\(noun.prefix(1).uppercased() + noun.dropFirst()): \(range)\(meaning)"
        case .full: text = "Full \(noun): \(range)\(meaning)" + (caveat.map { ", but \($0)" } ?? "")
        case .partial: text = "\(noun.prefix(1).uppercased() + noun.dropFirst()): \(range)\(meaning)" + (caveat.map { ", but \($0)" } ?? "")
        case .none: text = "No \(noun): \(range)\(meaning)" + (invariance.followsTarget == true ? " (the target changes along it)" : "")
        case .notLearned:
            text = "\(noun.prefix(1).uppercased() + noun.dropFirst())" + (invariance.leftOut.map { " left out: \($0)" } ?? " not learned (fixed at none)")
        }
    }

    /// A tolerated interval in the unit's words ("±52°", "−20°…+35°", "×0.71–×1.41"), with
    /// "or more" when both ends reach the sweep's ends.
    static func rangeText(_ t: ToleratedInterval, unit: String) -> String {
        naturalRangeText(low: t.low, high: t.high, unit: unit) + (t.reachesLowEnd && t.reachesHighEnd ? " or more" : "")
    }
}
