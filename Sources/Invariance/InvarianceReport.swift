import Foundation

/// report.json: which invariances were learned and how well the model does (schema
/// "augerino.report/1", documented in docs/report-format.md).
public struct InvarianceReport: Codable, Equatable {
    public struct Invariance: Codable, Equatable {
        /// Generator name: translate_x, translate_y, rotation, scale, stretch, shear.
        public var generator: String
        /// Whether this width was trained (others stay 0).
        public var learned: Bool
        /// Learned full width θ in parameter units.
        public var theta: Float
        public var initialTheta: Float
        /// [low, high] in natural units (see `unit`).
        public var interval: [Double]
        /// "degrees", "pixels", "factor" (scale; stretch along x) or "slope".
        public var unit: String

        enum CodingKeys: String, CodingKey {
            case generator, learned, theta, interval, unit
            case initialTheta = "initial_theta"
        }
    }

    public var schema = "augerino.report/1"
    public var name: String
    public var task: String
    public var invariances: [Invariance]
    /// test_accuracy / test_accuracy_single (or test_mse / test_mse_single), train_loss,
    /// train_accuracy (or train_mse); fractions, not percentages.
    public var metrics: [String: Double]
    public var history: [EpochRecord]
    /// Everything that reproduces the run.
    public var settings: [String: String]

    public init(name: String, task: LearningTask, widths: [AffineGenerator: Float], initial: [AffineGenerator: Float],
                learned: Set<AffineGenerator>, imageHeight: Int, imageWidth: Int, metrics: [String: Double],
                history: [EpochRecord], settings: [String: String]) {
        self.name = name
        if case .classification = task { self.task = "classification" } else { self.task = "regression" }
        invariances = AffineGenerator.allCases.map { generator in
            let theta = widths[generator] ?? 0
            let (interval, unit) = naturalInterval(generator, theta: theta, height: imageHeight, width: imageWidth)
            return Invariance(generator: generator.rawValue, learned: learned.contains(generator), theta: theta,
                              initialTheta: initial[generator] ?? 0, interval: interval, unit: unit)
        }
        (self.metrics, self.history, self.settings) = (metrics, history, settings)
    }

    /// Pretty-printed JSON with sorted keys.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// The learned interval ε ∈ [−θ/2, θ/2] in the units a person reads: rotation in degrees;
/// translation in pixels of the input (a normalised unit is (size − 1)/2 pixels, and the
/// generators carry a factor 0.1); scale and stretch as the factor range e^ε; shear as the
/// slope range tanh(ε) (exp(εG) has off-diagonal over diagonal tanh ε).
public func naturalInterval(_ generator: AffineGenerator, theta: Float, height: Int, width: Int) -> ([Double], String) {
    let half = Double(theta) / 2
    switch generator {
    case .rotation: return ([-half * 180 / .pi, half * 180 / .pi], "degrees")
    case .translateX: let p = half * 0.1 * Double(width - 1) / 2; return ([-p, p], "pixels")
    case .translateY: let p = half * 0.1 * Double(height - 1) / 2; return ([-p, p], "pixels")
    case .scale, .stretch: return ([exp(-half), exp(half)], "factor")
    case .shear: return ([-tanh(half), tanh(half)], "slope")
    }
}
