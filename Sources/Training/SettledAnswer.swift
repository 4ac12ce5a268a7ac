import Foundation
import Invariance

/// The stopping rule: the answer has settled when, over the last `window` epochs, every
/// learned width stayed within what the report can show and the held-out metric within its
/// noise. The run then anneals the learning rate to zero over `annealEpochs` more (the cosine
/// schedule's end, compressed) and stops, instead of spending the rest of its budget.
///
/// - Window: a fifth of the budget, at least 5 epochs; no earlier than twice the window. (A
///   tenth stopped rotated MNIST at 23 of 60 epochs with 93.3% test accuracy against 95.1%
///   for all 60: its test accuracy looked steady at the high learning rate while the network
///   was still learning; docs/performance.md.)
/// - Widths: each generator's half-width in natural units moves by at most the report's
///   resolution: 1°, 0.1 px, ×1.01 (log 0.01), slope 0.01 (a rotation past ±180° reads ±180°);
///   a photometric family's top factor by at most ×1.01; a mirror's probability by at most 0.01.
/// - Metric: the per-epoch test metric (on n ≤ 2,000 held-out images) moves by at most two
///   standard errors of a difference: 2·√(2p(1−p)/n) + 1/n for an accuracy p, 2·√(2/n)·m for
///   an MSE m.
/// It is decided from the history alone, so a run resumed from a checkpoint stops where an
/// uninterrupted one does.
public struct SettledAnswer: Equatable, Sendable {
    /// The epoch at whose end the answer had settled.
    public let epoch: Int
    /// Epochs compared.
    public let window: Int
    /// Epochs of annealing after `epoch` (0 with a constant learning rate: it stops at once).
    public let annealEpochs: Int

    public static func window(budget: Int) -> Int { max(5, budget / 5) }

    /// The first epoch of `history` at which the answer had settled, or nil.
    /// - Parameters:
    ///   - budget: the epochs the run may take; a settled answer leaves room to anneal within it.
    ///   - heldOutImages: n, the images the per-epoch test metric is measured on.
    public static func find(history: [EpochRecord], budget: Int, regression: Bool, heldOutImages n: Int,
                            imageHeight: Int, imageWidth: Int, anneals: Bool) -> SettledAnswer? {
        let window = window(budget: budget)
        let first = 2 * window
        guard n > 0, history.count >= first else { return nil }
        for end in first...history.count where end + (anneals ? window : 0) <= budget {
            let records = history[(end - window)..<end]
            if widthsHold(records, imageHeight: imageHeight, imageWidth: imageWidth) && metricHolds(records, regression: regression, n: n) {
                return SettledAnswer(epoch: end, window: window, annealEpochs: anneals ? window : 0)
            }
        }
        return nil
    }

    static func widthsHold(_ records: ArraySlice<EpochRecord>, imageHeight: Int, imageWidth: Int) -> Bool {
        // A photometric width's half-width θ/2 is the log of its top factor: ×1.01 is 0.01.
        let photometricHold = PhotometricFamily.allCases.allSatisfy { family in
            let halves = records.compactMap { $0.theta[family.rawValue] }.map { Double($0) / 2 }
            guard let low = halves.min(), let high = halves.max() else { return true }
            return high - low <= 0.01
        }
        let symmetryHold = SymmetryFamily.allCases.allSatisfy { family in
            let values = records.compactMap { $0.theta[family.rawValue] }
            guard let low = values.min(), let high = values.max() else { return true }
            return high - low <= 0.01
        }
        return photometricHold && symmetryHold && AffineGenerator.allCases.allSatisfy { generator in
            let values = records.compactMap { $0.theta[generator.rawValue] }.map { theta -> Double in
                let high = naturalInterval(generator, theta: theta, height: imageHeight, width: imageWidth).0.last ?? 0
                switch generator {
                case .scale, .stretch: return log(max(high, 1e-9))
                case .rotation: return min(high, 180)
                default: return high
                }
            }
            guard let low = values.min(), let high = values.max() else { return true }
            let resolution: Double
            switch generator {
            case .rotation: resolution = 1
            case .translateX, .translateY: resolution = 0.1
            case .scale, .stretch, .shear: resolution = 0.01
            }
            return high - low <= resolution
        }
    }

    static func metricHolds(_ records: ArraySlice<EpochRecord>, regression: Bool, n: Int) -> Bool {
        let values = records.compactMap(\.testMetric)
        guard values.count == records.count, let low = values.min(), let high = values.max() else { return false }
        let mean = values.reduce(0, +) / Double(values.count)
        let allowed = regression ? 2 * (2 / Double(n)).squareRoot() * mean
                                 : 2 * (2 * mean * (1 - mean) / Double(n)).squareRoot() + 1 / Double(n)
        return high - low <= allowed
    }

    /// The sentence the report's settings carry.
    public func description(budget: Int) -> String {
        "settled at epoch \(epoch) of \(budget) (widths and test metric steady over the last \(window) epochs)"
            + (annealEpochs > 0 ? ", then \(annealEpochs) epochs annealing the learning rate" : "")
    }
}
