import Foundation
import NN

/// How far a dataset's own images vary along each generator within a class, read by a second
/// network: the *pose reader*. It is trained to tell, from a warped image and its class, the
/// transformation δ (uniform in ±B per generator, all six at once) that was applied. The best
/// such reader answers the image's pose relative to its class's typical pose: for an image
/// planted at ε (uniform in ±a) and warped by δ it cannot tell δ from ε, so it answers
/// E[δ | ε + δ] = ε + δ. On held-out images left as they are (δ = 0) it therefore reads each
/// image's own ε, and the spread of those readings is the spread planted in the data:
///
/// - a straight generator: (g·a)² = 3·(S² − σ²), S² the readings' variance within a class, g
///   the reader's gain and σ² its own error, both measured on pairs (an image and the same
///   image warped by a known δ: the readings differ by g·δ plus two errors, so g is the slope
///   and σ² = Var(residual)/2);
/// - rotation, on the circle: E[cos ε] = sin a / a for ε uniform in ±a, from the readings'
///   mean resultant length R within a class (divided by the pairs' √R, the reader's error);
///   ±180° reads as R = 0.
///
/// Every warp fills what comes in from outside with the data's background (a fill of another
/// value draws the frame's edge into the image, and the reader reads δ off the edge).
///
/// The full width θ = 2a is what `AffineAugmentation` calls a width, so the result can be the
/// augmentation's widths directly. Nothing here has a weight to choose: the answer is a
/// property of the data, not of a reward's balance (docs/performance.md, "Fidelity").
///
/// A label-dependent transformation reads as what it is within a class: classes are read
/// apart (their own typical poses), and for regression the targets are cut into ten groups
/// by their deciles, so a target that *is* the angle leaves no angle to spread within a group.
public final class SpreadEstimator {
    /// What the reader measured.
    public struct Estimate: Sendable, Equatable {
        /// Full widths θ = 2a by generator (0 for generators not estimated).
        public var widths: [AffineGenerator: Float]
        /// The readings' spread before the reader's error was taken off, as a full width.
        public var rawWidths: [AffineGenerator: Float]
        /// The reader's own error per reading, as a full width of the same units.
        public var readerError: [AffineGenerator: Float]
        /// How much the reading moves per unit of pose (1 for a perfect reader; not measured,
        /// and 1, for rotation).
        public var gains: [AffineGenerator: Float]
        /// The reader's loss on its last training epoch: squared errors summed over its seven
        /// outputs, averaged over images.
        public var trainLoss: Double
    }

    /// Proposal half-widths B in generator coordinates: rotation the whole circle; translations
    /// a quarter of the image's side; scale, stretch and shear ±0.7 (a factor of 2, a slope of 0.6).
    public let proposal: [Float]
    public let network: Sequential
    public let groups: Int
    let estimated: Set<AffineGenerator>
    /// Outputs per group: translate_x, translate_y, cos and sin of the rotation, scale, stretch, shear.
    static let outputsPerGroup = 7

    /// - Parameters:
    ///   - groups: classes for classification; for regression, the ten target deciles.
    ///   - estimated: generators whose spread is read (the others report 0).
    ///   - readerWidth: channels of the reader's first convolution (then twice, four times that).
    public init(channels: Int, height: Int, width: Int, groups: Int, estimated: Set<AffineGenerator>, readerWidth: Int = 16,
                random: inout RandomGenerator) {
        self.groups = groups
        self.estimated = estimated
        let side = Float(min(height, width))
        let translation = 0.25 * side / (0.05 * max(1, side - 1))
        proposal = AffineGenerator.allCases.map { generator in
            switch generator {
            case .translateX, .translateY: return translation
            case .rotation: return .pi
            case .scale, .stretch, .shear: return 0.7
            }
        }
        func convBN(_ cin: Int, _ cout: Int) -> [Layer] {
            [Conv2d(cin, cout, kernelSize: 3, padding: 1, random: &random), BatchNorm2d(cout), ReLU()]
        }
        // Two halvings keep a map of where things are (a quarter of the image's resolution): the
        // reader's head sees positions, which a globally pooled classifier would throw away.
        let c = readerWidth
        var layers: [Layer] = convBN(channels, c) + [MaxPool2d(2)] + convBN(c, 2 * c) + [MaxPool2d(2)] + convBN(2 * c, 2 * c)
        let cells = (height / 4) * (width / 4)
        layers += [Flatten(), Linear(2 * c * max(1, cells), 128, random: &random), ReLU(),
                   Linear(128, groups * Self.outputsPerGroup, random: &random)]
        network = Sequential(layers)
    }

    /// The group of each target: the class, or the regression target's decile among `reference`.
    public static func grouping(task: LearningTask, reference: [Float]) -> ([Float]) -> [Int] {
        switch task {
        case .classification: return { $0.map { Int($0) } }
        case .regression:
            let sorted = reference.sorted()
            let cuts = (1..<10).map { sorted[min(sorted.count - 1, $0 * sorted.count / 10)] }
            return { $0.map { target in cuts.filter { target >= $0 }.count } }
        }
    }

    /// Trains the reader on `train` for `epochs` (Adam, cosine schedule to 0), then reads the
    /// spread on up to 2,000 images of `heldOut`. `progress(done, total)` hears each batch; what
    /// it throws stops the reading.
    public func estimate(train: ImageDataset, heldOut: ImageDataset, group: ([Float]) -> [Int], epochs: Int, batchSize: Int,
                         learningRate: Float, random: inout RandomGenerator, progress: (Int, Int) throws -> Void = { _, _ in }) rethrows -> Estimate {
        let background = Self.background(train)
        let optimizer = Adam([ParameterGroup(network.parameters.map(\.tensor), learningRate: learningRate, weightDecay: 1e-4)])
        let batches = InvarianceTrainer.batchStarts(images: train.count, batchSize: batchSize)
        let schedule = LearningRateSchedule.cosine(totalSteps: epochs * batches.count, floor: 0)
        var step = 0, lastLoss = 0.0
        network.isTraining = true
        for _ in 0..<epochs {
            let order = random.permutation(train.count)
            var lossSum = 0.0
            for first in batches {
                let indices = Array(order[first..<min(first + batchSize, train.count)])
                optimizer.setLearningRates([learningRate * schedule.factor(at: step)])
                let delta = sampleDelta(count: indices.count, scale: 1, random: &random)
                let warped = warp(train.batch(indices), delta: delta, background: background)
                let output = network(warped, random: &random)
                let (target, mask) = targets(delta: delta, groups: group(indices.map { train.targets[$0] }))
                let difference = (output - target) * mask
                let loss = (difference * difference).sum().scaled(by: 1 / Float(indices.count))
                optimizer.zeroGradients()
                loss.backward()
                optimizer.step()
                lossSum += Double(loss.item)
                step += 1
                try progress(step, epochs * batches.count)
            }
            lastLoss = lossSum / Double(max(1, batches.count))
        }
        network.isTraining = false
        return read(heldOut.prefix(2000), group: group, background: background, trainLoss: lastLoss, random: &random)
    }

    /// `images` warped by δ, what comes in from outside filled with the background: a fill of
    /// another value would draw the frame's edge into the image, and the reader would read δ
    /// off the edge instead of off the image's pose.
    func warp(_ images: Tensor, delta: [Float], background: Tensor) -> Tensor {
        let theta = AffineAugmentation.transforms(epsilon: Tensor(shape: [images.shape[0], 6], values: delta))
        return Tensor.affineWarp(images - background, theta: theta) + background
    }

    /// The mean of every image's outermost pixels, per channel: [1, C, 1, 1].
    static func background(_ data: ImageDataset) -> Tensor {
        var sums = [Double](repeating: 0, count: data.channels), count = 0
        for image in 0..<data.count {
            for c in 0..<data.channels {
                let plane = (image * data.channels + c) * data.height * data.width
                for y in 0..<data.height { for x in 0..<data.width where y == 0 || x == 0 || y == data.height - 1 || x == data.width - 1 {
                    sums[c] += Double(data.images[plane + y * data.width + x])
                    if c == 0 { count += 1 }
                } }
            }
        }
        return Tensor(shape: [1, data.channels, 1, 1], values: sums.map { Float($0 / Double(max(1, count))) })
    }

    /// δ [count, 6] uniform in ±B·scale, generators not estimated held at 0.
    func sampleDelta(count: Int, scale: Float, random: inout RandomGenerator) -> [Float] {
        (0..<count).flatMap { _ in
            AffineGenerator.allCases.map { generator in
                estimated.contains(generator) ? (random.nextFloat() * 2 - 1) * proposal[generator.index] * scale : 0
            }
        }
    }

    /// Each example's seven targets placed in its group's slots, and the mask of those slots.
    func targets(delta: [Float], groups: [Int]) -> (Tensor, Tensor) {
        let width = self.groups * Self.outputsPerGroup
        var target = [Float](repeating: 0, count: groups.count * width), mask = target
        // Which outputs are trained: outputs 2 and 3 are rotation's cosine and sine.
        let on: [Float] = [0, 1, 2, 2, 3, 4, 5].map { estimated.contains(AffineGenerator.allCases[$0]) ? 1 : 0 }
        for (i, g) in groups.enumerated() {
            let d = Array(delta[(i * 6)..<(i * 6 + 6)])
            let values: [Float] = [d[0] / proposal[0], d[1] / proposal[1], cos(d[2]), sin(d[2]),
                                   d[3] / proposal[3], d[4] / proposal[4], d[5] / proposal[5]]
            for k in 0..<Self.outputsPerGroup {
                target[i * width + g * Self.outputsPerGroup + k] = values[k]
                mask[i * width + g * Self.outputsPerGroup + k] = on[k]
            }
        }
        return (Tensor(shape: [groups.count, width], values: target), Tensor(shape: [groups.count, width], values: mask))
    }

    /// The reader's pose of each image of `images` [N, C, H, W] in its group: six coordinates
    /// (rotation as an angle).
    func poses(_ images: Tensor, groups: [Int]) -> [[Float]] {
        let output = TensorContext.withoutGradients { network(images).values }
        let width = self.groups * Self.outputsPerGroup
        return groups.enumerated().map { i, g in
            let o = Array(output[(i * width + g * Self.outputsPerGroup)..<(i * width + (g + 1) * Self.outputsPerGroup)])
            return [o[0] * proposal[0], o[1] * proposal[1], atan2(o[3], o[2]), o[4] * proposal[3], o[5] * proposal[4], o[6] * proposal[5]]
        }
    }

    /// Reads the spread on `data`: each image as it is, and again warped by a known δ (within
    /// a quarter of the proposal) for the reader's own error.
    func read(_ data: ImageDataset, group: ([Float]) -> [Int], background: Tensor, trainLoss: Double, random: inout RandomGenerator) -> Estimate {
        var plain: [[Float]] = [], residual: [[Float]] = [], groupOf: [Int] = [], applied: [Float] = []
        for first in stride(from: 0, to: data.count, by: 250) {
            let indices = Array(first..<min(first + 250, data.count))
            let groups = group(indices.map { data.targets[$0] })
            let images = data.batch(indices)
            let delta = sampleDelta(count: indices.count, scale: 0.25, random: &random)
            let warped = TensorContext.withoutGradients { warp(images, delta: delta, background: background) }
            let before = poses(images, groups: groups), after = poses(warped, groups: groups)
            for i in indices.indices {
                plain.append(before[i])
                residual.append((0..<6).map { k in
                    let r = after[i][k] - before[i][k] - delta[i * 6 + k]
                    return k == AffineGenerator.rotation.index ? remainder(r, 2 * .pi) : r
                })
            }
            groupOf += groups
            applied += delta
        }
        var widths: [AffineGenerator: Float] = [:], raw: [AffineGenerator: Float] = [:], error: [AffineGenerator: Float] = [:]
        var gains: [AffineGenerator: Float] = [:]
        for generator in AffineGenerator.allCases {
            guard estimated.contains(generator) else { (widths[generator], raw[generator], error[generator]) = (0, 0, 0); continue }
            let k = generator.index
            if generator == .rotation {
                // On the circle: E[cos ε] = sin a / a for ε uniform in ±a; the reader's error
                // multiplies the readings' mean resultant length by √R of the pairs' residuals.
                let spread = Self.meanResultantLength(plain.map { $0[k] }, groups: groupOf)
                let readerR = Self.meanResultantLength(residual.map { $0[k] }, groups: groupOf.map { _ in 0 }).squareRoot()
                widths[generator] = 2 * Self.uniformHalfWidth(meanResultantLength: min(1, spread / max(readerR, 1e-6)))
                raw[generator] = 2 * Self.uniformHalfWidth(meanResultantLength: spread)
                error[generator] = 2 * Self.uniformHalfWidth(meanResultantLength: readerR)
                gains[generator] = 1
            } else {
                let deltas = (0..<plain.count).map { Double(applied[$0 * 6 + k]) }
                let (gain, noise) = Self.gainAndError(applied: deltas, changes: (0..<plain.count).map { Double(residual[$0][k]) + deltas[$0] })
                let variance = Self.withinGroupVariance(plain.map { $0[k] }, groups: groupOf)
                widths[generator] = Float(2 * (3 * max(0, variance - noise)).squareRoot() / gain)
                raw[generator] = Float(2 * (3 * variance).squareRoot())
                error[generator] = Float(2 * (3 * noise).squareRoot())
                gains[generator] = Float(gain)
            }
        }
        return Estimate(widths: widths, rawWidths: raw, readerError: error, gains: gains, trainLoss: trainLoss)
    }

    /// The reader answers gain·pose + error. From pairs (the δ applied, and how much the reading
    /// changed): the gain is the slope of the change against δ (a reader unsure of a pose answers
    /// nearer its class's centre; at least 0.05), the error variance what the slope leaves, halved
    /// (each change holds two readings' errors).
    static func gainAndError(applied deltas: [Double], changes: [Double]) -> (gain: Double, errorVariance: Double) {
        let meanDelta = deltas.reduce(0, +) / Double(max(1, deltas.count))
        let meanChange = changes.reduce(0, +) / Double(max(1, changes.count))
        let covariance = zip(deltas, changes).reduce(0.0) { $0 + ($1.0 - meanDelta) * ($1.1 - meanChange) }
        let deltaSquares = deltas.reduce(0.0) { $0 + ($1 - meanDelta) * ($1 - meanDelta) }
        let gain = max(0.05, covariance / max(1e-12, deltaSquares))
        let leftover = zip(deltas, changes).map { Float($0.1 - meanChange - gain * ($0.0 - meanDelta)) }
        return (gain, withinGroupVariance(leftover, groups: leftover.map { _ in 0 }) / 2)
    }

    /// Pooled variance of `values` about each group's own mean.
    static func withinGroupVariance(_ values: [Float], groups: [Int]) -> Double {
        var sums: [Int: (Double, Double, Int)] = [:]
        for (v, g) in zip(values, groups) {
            let s = sums[g] ?? (0, 0, 0)
            sums[g] = (s.0 + Double(v), s.1 + Double(v) * Double(v), s.2 + 1)
        }
        var squares = 0.0, count = 0
        for (sum, sumSquares, n) in sums.values where n > 1 {
            squares += sumSquares - sum * sum / Double(n)
            count += n - 1
        }
        return count == 0 ? 0 : squares / Double(count)
    }

    /// Mean resultant length of angles about each group's own mean direction, pooled.
    static func meanResultantLength(_ angles: [Float], groups: [Int]) -> Double {
        var sums: [Int: (Double, Double, Int)] = [:]
        for (a, g) in zip(angles, groups) {
            let s = sums[g] ?? (0, 0, 0)
            sums[g] = (s.0 + Double(cos(a)), s.1 + Double(sin(a)), s.2 + 1)
        }
        let total = sums.values.reduce(0) { $0 + $1.2 }
        return sums.values.reduce(0.0) { $0 + ($1.0 * $1.0 + $1.1 * $1.1).squareRoot() } / Double(max(1, total))
    }

    /// a ∈ [0, π] with sin a / a = R (uniform angles in ±a have mean resultant length R).
    static func uniformHalfWidth(meanResultantLength r: Double) -> Float {
        guard r < 1 else { return 0 }
        guard r > 0 else { return .pi }
        var (low, high) = (0.0, Double.pi)
        for _ in 0..<60 {
            let middle = (low + high) / 2
            if sin(middle) / middle > r { low = middle } else { high = middle }
        }
        return Float((low + high) / 2)
    }
}
