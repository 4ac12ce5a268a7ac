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
    /// Held-out inputs every point was measured on (absent in reports of older versions).
    public var images: Int?

    public init(generator: String, unit: String, points: [Point], images: Int? = nil) {
        (self.generator, self.unit, self.points, self.images) = (generator, unit, points, images)
    }

    /// The magnitudes the trained model tolerates, read off this sweep: the widest interval
    /// around the untransformed point (ε = 0) over which the averaged predictor's held-out
    /// metric stays within noise of its untransformed value, in natural units, each end
    /// interpolated linearly between the last grid point inside and the first outside. Noise
    /// is two standard errors of the difference of two measurements on the same `images`
    /// inputs: accuracy b loses at most 2·√(2b(1−b)/n) (and at least one input's worth, 1/n);
    /// an MSE m grows by at most 2·√(2/n)·m (the relative spread of a mean of n squared
    /// Gaussian residuals). nil without `images` or a point at ε = 0 (within 10⁻⁴).
    public func tolerated(regression: Bool) -> ToleratedInterval? {
        // The grid's zero may carry a rounding error (a rotation grid's middle is ~1e-8 rad).
        guard let n = images, n > 0, let centre = points.indices.min(by: { abs(points[$0].epsilon) < abs(points[$1].epsilon) }),
              abs(points[centre].epsilon) < 1e-4 else { return nil }
        let base = points[centre].metric
        let allowed = regression ? 2 * (2 / Double(n)).squareRoot() * base
                                 : max(2 * (2 * base * (1 - base) / Double(n)).squareRoot(), 1 / Double(n))
        func inside(_ point: Point) -> Bool { regression ? point.metric <= base + allowed : point.metric >= base - allowed }
        func edge(step: Int) -> (Double, outside: Double?) {
            var last = centre
            while last + step >= 0 && last + step < points.count {
                let next = points[last + step]
                guard inside(next) else {
                    // The crossing between the last point inside and the first outside.
                    let (a, b) = (points[last], next)
                    let limit = regression ? base + allowed : base - allowed
                    let t = b.metric == a.metric ? 0 : (limit - a.metric) / (b.metric - a.metric)
                    return (a.natural + min(1, max(0, t)) * (b.natural - a.natural), b.natural)
                }
                last += step
            }
            return (points[last].natural, nil)
        }
        let (low, lowOutside) = edge(step: -1), (high, highOutside) = edge(step: 1)
        return ToleratedInterval(low: low, high: high, lowOutside: lowOutside, highOutside: highOutside)
    }
}

/// An interval of magnitudes a trained model tolerates (`ProbeSweep.tolerated`), in natural
/// units. Each end is interpolated; beside it, the first measured magnitude past it (nil when
/// the end is the sweep's own end, and the model may tolerate more).
public struct ToleratedInterval: Equatable, Sendable {
    public var low: Double
    public var high: Double
    public var lowOutside: Double?
    public var highOutside: Double?
    public var reachesLowEnd: Bool { lowOutside == nil }
    public var reachesHighEnd: Bool { highOutside == nil }
}

/// The magnitudes swept for each generator: rotation over the whole circle (every 15°),
/// translations up to half the image, scale and stretch from ×½ to ×2, shear slopes up to ±0.76.
public func probeMagnitudes(_ generator: AffineGenerator, height: Int, width: Int) -> [Float] {
    func grid(_ low: Float, _ high: Float, _ count: Int) -> [Float] { (0..<count).map { low + (high - low) * Float($0) / Float(count - 1) } }
    switch generator {
    case .rotation: return grid(-.pi, .pi, 25)
    case .translateX: let limit = Float(width) / 2 / (0.1 * Float(width - 1) / 2); return grid(-limit, limit, 7)
    case .translateY: let limit = Float(height) / 2 / (0.1 * Float(height - 1) / 2); return grid(-limit, limit, 7)
    case .scale, .stretch: return grid(-log(2), log(2), 7)
    case .shear: return grid(-1, 1, 7)
    }
}

/// The magnitudes swept for a photometric family: log-factors from ×½ to ×2 (brightness
/// −50%…+100%), 7 points; hue's turn −180°…180° every 30°, 13 points.
public func photometricProbeMagnitudes(_ family: PhotometricFamily) -> [Float] {
    if family == .hue { return (0..<13).map { Float.pi * Float($0 - 6) / 6 } }
    return (0..<7).map { -log(Float(2)) + 2 * log(Float(2)) * Float($0) / 6 }
}

/// A mirror's (or the transpose's) sweep: not applied (ε 0) and applied (ε 1).
public let symmetryProbeMagnitudes: [Float] = [0, 1]

/// Forward passes of single images `probeInvariances` makes: (1 + magnitudes of every
/// generator, of the `families` photometric families and of the `symmetries` learned) × images
/// × (copies + 1), for progress.
public func probeImagePasses(images: Int, copies: Int, height: Int, width: Int, families: Set<PhotometricFamily> = [],
                             symmetries: Set<SymmetryFamily> = []) -> Int {
    (1 + AffineGenerator.allCases.reduce(0) { $0 + probeMagnitudes($1, height: height, width: width).count }
        + families.reduce(0) { $0 + photometricProbeMagnitudes($1).count }
        + symmetries.count * symmetryProbeMagnitudes.count) * images * (max(1, copies) + 1)
}

/// Sweeps every generator over `probeMagnitudes`, every photometric family the predictor
/// learned over `photometricProbeMagnitudes(_:)`, and every mirror it learned unapplied and
/// applied, on `data` (at most `limit` inputs). `progress`
/// hears the image passes done (of `probeImagePasses`) after each magnitude.
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
    func point(_ transformed: Tensor, epsilon: Float, natural: Double) -> ProbeSweep.Point {
        let (classes, metric) = score(transformed, copies: copies), (classesSingle, metricSingle) = score(transformed, copies: 0)
        passes += passesPerPoint
        progress(passes)
        return ProbeSweep.Point(epsilon: epsilon, natural: natural, metric: metric, metricSingle: metricSingle,
                                consistency: agreement(classes, baseline), consistencySingle: agreement(classesSingle, baselineSingle))
    }
    let affine = AffineGenerator.allCases.map { generator in
        let (_, unit) = naturalValue(generator, epsilon: 0, height: subset.height, width: subset.width)
        let points = probeMagnitudes(generator, height: subset.height, width: subset.width).map { epsilon in
            point(transform(x, by: generator, epsilon: epsilon), epsilon: epsilon,
                  natural: naturalValue(generator, epsilon: epsilon, height: subset.height, width: subset.width).0)
        }
        return ProbeSweep(generator: generator.rawValue, unit: unit, points: points, images: subset.count)
    }
    let mirrors = SymmetryFamily.allCases.filter { predictor.augmentation.symmetry?.learned.contains($0) ?? false }.map { family in
        let points = symmetryProbeMagnitudes.map { epsilon in
            point(transform(x, by: SymmetryElement(applying: epsilon != 0 ? [family] : [])), epsilon: epsilon, natural: Double(epsilon))
        }
        return ProbeSweep(generator: family.rawValue, unit: "applied", points: points, images: subset.count)
    }
    guard let photometric = predictor.photometric else { return affine + mirrors }
    return affine + PhotometricFamily.allCases.filter(photometric.learned.contains).map { family in
        let points = photometricProbeMagnitudes(family).map { epsilon in
            // The interval a width of 2|ε| spans ends at ε: its natural value at that end.
            let (ends, _) = family.naturalInterval(theta: 2 * abs(epsilon))
            return point(transform(x, by: family, epsilon: epsilon, gain: photometric.gain, offset: photometric.offset), epsilon: epsilon,
                         natural: epsilon < 0 ? ends[0] : ends[1])
        }
        return ProbeSweep(generator: family.rawValue, unit: family.naturalInterval(theta: 0).1, points: points, images: subset.count)
    } + mirrors
}

/// Every image of `x` (N×C×H×W) moved by one symmetry of the square, exactly.
public func transform(_ x: Tensor, by element: SymmetryElement) -> Tensor {
    Tensor(shape: x.shape, values: element.apply(to: x.values, planes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3]))
}

/// Every image of `x` (standardised, p = x·gain + offset on [0, 1]) with one photometric
/// family drawn at ε (the factor e^ε; for hue the turn ε), without gradients.
public func transform(_ x: Tensor, by family: PhotometricFamily, epsilon: Float, gain: Float, offset: Float) -> Tensor {
    TensorContext.withoutGradients {
        let values = PhotometricFamily.kernelValues(family, epsilon: epsilon)
        return Tensor.photometricAdjust(x, factors: Tensor(shape: [x.shape[0], values.count], values: (0..<x.shape[0]).flatMap { _ in values }),
                                        gain: gain, offset: offset)
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
