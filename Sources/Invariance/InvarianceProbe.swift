import Foundation
import NN

/// How a trained model behaves when held-out inputs are transformed by one generator at a
/// fixed magnitude: the sweeps in report.json's "probes".
public struct ProbeSweep: Codable, Equatable {
    public struct Point: Codable, Equatable {
        /// The magnitude ε: every input is transformed by exp(ε·G).
        public var epsilon: Float
        /// ε in the generator's natural unit (degrees, pixels, factor, slope).
        public var natural: Double
        /// Accuracy (or MSE) of the averaged predictor with `copies` augmented copies, and of one plain pass.
        public var metric: Double
        public var metricSingle: Double
        /// Share of inputs whose predicted class equals the prediction for the untransformed
        /// input (same predictor); nil for regression.
        public var consistency: Double?
        public var consistencySingle: Double?

        enum CodingKeys: String, CodingKey {
            case epsilon, natural, metric, consistency
            case metricSingle = "metric_single", consistencySingle = "consistency_single"
        }
    }

    public var generator: String
    public var unit: String
    public var points: [Point]
}

/// The magnitudes swept for each generator: rotation over the whole circle (every 30°),
/// translations up to half the image, scale and stretch from ×½ to ×2, shear slopes up to ±0.76.
public func probeMagnitudes(_ generator: AffineGenerator, height: Int, width: Int) -> [Float] {
    func grid(_ low: Float, _ high: Float, _ count: Int) -> [Float] { (0..<count).map { low + (high - low) * Float($0) / Float(count - 1) } }
    switch generator {
    case .rotation: return grid(-.pi, .pi, 13)
    case .translateX: let limit = Float(width) / 2 / (0.1 * Float(width - 1) / 2); return grid(-limit, limit, 7)
    case .translateY: let limit = Float(height) / 2 / (0.1 * Float(height - 1) / 2); return grid(-limit, limit, 7)
    case .scale, .stretch: return grid(-log(2), log(2), 7)
    case .shear: return grid(-1, 1, 7)
    }
}

/// Forward passes of single images `probeInvariances` makes: (1 + magnitudes of every
/// generator) × images × (copies + 1), for progress.
public func probeImagePasses(images: Int, copies: Int, height: Int, width: Int) -> Int {
    (1 + AffineGenerator.allCases.reduce(0) { $0 + probeMagnitudes($1, height: height, width: width).count }) * images * (max(1, copies) + 1)
}

/// Sweeps every generator over `probeMagnitudes` on `data` (at most `limit` inputs).
/// `progress` hears the image passes done (of `probeImagePasses`) after each magnitude.
public func probeInvariances(_ predictor: AveragedPredictor, data: ImageDataset, copies: Int, limit: Int = 250, seed: UInt64 = 0,
                             progress: (Int) -> Void = { _ in }) -> [ProbeSweep] {
    let subset = data.prefix(limit)
    let passesPerPoint = subset.count * (max(1, copies) + 1)
    var passes = passesPerPoint
    let x = subset.batch(0..<subset.count)
    var random = RandomGenerator(seed: seed).stream(99)
    func score(_ input: Tensor, copies: Int) -> ([Int]?, Double) {
        let scores = predictor.predict(input, copies: copies, random: &random)
        switch predictor.task {
        case .classification:
            let classes = AveragedPredictor.classes(scores)
            return (classes, Double(zip(classes, subset.labels(0..<subset.count)).filter { $0 == Int($1) }.count) / Double(subset.count))
        case .regression:
            let mse = zip(scores.values, subset.targets).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(subset.count)
            return (nil, mse)
        }
    }
    let (baseline, _) = score(x, copies: copies), (baselineSingle, _) = score(x, copies: 0)
    func agreement(_ a: [Int]?, _ b: [Int]?) -> Double? {
        guard let a, let b else { return nil }
        return Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count)
    }
    return AffineGenerator.allCases.map { generator in
        let (_, unit) = naturalValue(generator, epsilon: 0, height: subset.height, width: subset.width)
        let points = probeMagnitudes(generator, height: subset.height, width: subset.width).map { epsilon -> ProbeSweep.Point in
            let transformed = transform(x, by: generator, epsilon: epsilon)
            let (classes, metric) = score(transformed, copies: copies), (classesSingle, metricSingle) = score(transformed, copies: 0)
            passes += passesPerPoint
            progress(passes)
            return ProbeSweep.Point(epsilon: epsilon, natural: naturalValue(generator, epsilon: epsilon, height: subset.height, width: subset.width).0,
                                    metric: metric, metricSingle: metricSingle,
                                    consistency: agreement(classes, baseline), consistencySingle: agreement(classesSingle, baselineSingle))
        }
        return ProbeSweep(generator: generator.rawValue, unit: unit, points: points)
    }
}

/// Every image of `x` (N×C×H×W) transformed by exp(ε·G) of one generator, without gradients.
public func transform(_ x: Tensor, by generator: AffineGenerator, epsilon: Float) -> Tensor {
    TensorContext.withoutGradients {
        var algebra = [Float](repeating: 0, count: 9)
        for (i, g) in generator.matrix.enumerated() { algebra[i] = epsilon * g }
        let matrix = matrixExponential(Tensor(shape: [1, 3, 3], values: algebra)).values
        let theta = Tensor(shape: [x.shape[0], 2, 3], values: (0..<x.shape[0]).flatMap { _ in Array(matrix[0..<6]) })
        return Tensor.affineWarp(x, theta: theta)
    }
}
