import Foundation
import NN

/// Each image's pose within its group, found by aligning the group's images to one another:
/// least-squares congealing (Learned-Miller, "Data driven image models through continuous
/// joint alignment", 2006; Cox et al., "Least squares congealing", 2008). Every image gets
/// coordinates ε (one per generator); the group's template is the mean of its images warped by
/// their ε, and gradient descent moves each ε to bring its image nearer the template, coarse
/// to fine (the images blurred, then less). The group's ε are kept centred, so the template
/// cannot drift. An image planted at pose p needs ε ≈ −p to meet the others, so the spread of
/// ε within a group is the spread of the poses in it.
public struct PoseAlignment {
    /// Generators whose coordinates move (the others stay 0).
    public var estimated: Set<AffineGenerator>
    /// Gaussian blur per level, standard deviation in pixels, coarse to fine.
    public var blurs: [Float] = [2, 1, 0.5]
    /// Steps per level (`NormalisedStep`, cosine schedule to 0 within each): 50 converge on
    /// MNIST (measured with the first optimiser, Adam: 100 read the same within 3%).
    public var stepsPerLevel = 50
    public var learningRate: Float = 0.03

    /// Turns tried per image between the two passes, as a step around the whole circle (0: one
    /// pass, no search). A gradient from the class's mean turns a digit back by some 40° at
    /// most; a planted ±60° read −27% short without the search (docs/performance.md).
    public var turnStep: Float = 15 * .pi / 180
    /// A turn found by the search is taken only when it brings the image nearer its template by
    /// more than this fraction of its squared distance (a slanted digit nearly as near turned
    /// keeps its slant).
    public var turnMargin: Float = 0.1

    public init(estimated: Set<AffineGenerator>) { self.estimated = estimated }

    /// The templates of each level, by group: [levels][group] image planes.
    public struct Templates { var levels: [[Int: [Float]]] }

    /// Gradient steps `align` takes.
    public var steps: Int { (searchesTurns ? 2 : 1) * blurs.count * stepsPerLevel }
    var searchesTurns: Bool { estimated.contains(.rotation) && turnStep > 0 }

    /// Aligns `images` [N, C, H, W] (background subtracted: 0 is background) within `groups`.
    /// With `templates` nil the templates are the current means (congealing), and are returned;
    /// otherwise each image is aligned to its group's given template. When rotation is
    /// estimated, the descent runs twice: after the first, each image's turn is searched around
    /// the circle against the coarsest templates (`searchTurns`), and the second starts there.
    /// `progress` hears each step; what it throws stops the alignment.
    public func align(_ images: [Float], channels: Int, height: Int, width: Int, groups: [Int], templates given: Templates? = nil,
                      progress: () throws -> Void = {}) rethrows -> (epsilon: [[Float]], templates: Templates) {
        let n = groups.count
        // The optimiser moves η = ε·displacement: a step of the same size moves the image's
        // points as far for every generator (a translation's ε moves them 0.12 as far as a turn's).
        let mask = Tensor(shape: [1, 6], values: AffineGenerator.allCases.map { estimated.contains($0) ? 1 / $0.displacement : 0 })
        let eta = Tensor(shape: [n, 6], repeating: 0, requiresGradient: true)
        let members = Dictionary(grouping: 0..<n) { groups[$0] }
        let blurred = blurs.map { Tensor(shape: [n, channels, height, width], values: Self.blur(images, planes: n * channels, height: height, width: width, sigma: $0)) }
        var levels = try descend(blurred, eta: eta, mask: mask, groups: groups, members: members, given: given?.levels, progress: progress)
        if searchesTurns, !blurred.isEmpty {
            let count = max(2, Int((2 * Float.pi / turnStep).rounded()))
            let turns = (1..<count).map { i -> Float in let t = Float(i) * 2 * .pi / Float(count); return t > .pi ? t - 2 * .pi : t }
            Self.searchTurns(blurred[0], eta: eta, mask: mask, groups: groups, templates: levels[0], turns: turns, margin: turnMargin)
            if given == nil { Self.centre(eta, members: members) }
            levels = try descend(blurred, eta: eta, mask: mask, groups: groups, members: members, given: given?.levels, progress: progress)
        }
        let values = TensorContext.withoutGradients { (eta * mask).values }
        let result = (0..<n).map { i in Array(values[(i * 6)..<(i * 6 + 6)]) }
        return (result, Templates(levels: levels))
    }

    /// Gradient descent of `eta` through every level, coarse to fine; the templates of each level.
    private func descend(_ blurred: [Tensor], eta: Tensor, mask: Tensor, groups: [Int], members: [Int: [Int]], given: [[Int: [Float]]]?,
                         progress: () throws -> Void) rethrows -> [[Int: [Float]]] {
        let n = groups.count, plane = blurred[0].count / max(1, n)
        var step = NormalisedStep(count: n)
        var levels: [[Int: [Float]]] = []
        for level in blurred.indices {
            var templates: [Int: [Float]] = given?[level] ?? [:]
            for iteration in 0..<stepsPerLevel {
                let rate = learningRate * 0.5 * (1 + cos(Float.pi * Float(iteration) / Float(stepsPerLevel)))
                let aligned = Tensor.affineWarp(blurred[level], theta: AffineAugmentation.transforms(epsilon: eta * mask))
                if given == nil {
                    let values = aligned.values
                    for (g, indices) in members {
                        var sum = [Float](repeating: 0, count: plane)
                        for i in indices { for k in 0..<plane { sum[k] += values[i * plane + k] } }
                        templates[g] = sum.map { $0 / Float(indices.count) }
                    }
                }
                let target = Tensor(shape: blurred[level].shape, values: groups.flatMap { templates[$0]! })
                let difference = aligned - target
                let loss = (difference * difference).sum().scaled(by: 1 / Float(n))
                eta.zeroGradient()
                loss.backward()
                step.apply(to: eta, rate: rate)
                if given == nil { Self.centre(eta, members: members) }
                try progress()
            }
            levels.append(templates)
        }
        return levels
    }

    /// Adds to each image's turn the one of `turns` that brings it nearest its group's template,
    /// when that is nearer than where it stands by more than `margin` (a fraction of its squared
    /// distance there). Returns how many images turned.
    @discardableResult
    static func searchTurns(_ images: Tensor, eta: Tensor, mask: Tensor, groups: [Int], templates: [Int: [Float]], turns: [Float], margin: Float) -> Int {
        let n = groups.count, plane = images.count / max(1, n)
        let rotation = AffineGenerator.rotation.index, perRadian = AffineGenerator.rotation.displacement
        let present = TensorContext.withoutGradients { eta.values }
        func distances(turn: Float) -> [Float] {
            var moved = present
            for i in 0..<n { moved[i * 6 + rotation] += turn * perRadian }
            let values = TensorContext.withoutGradients {
                Tensor.affineWarp(images, theta: AffineAugmentation.transforms(epsilon: Tensor(shape: [n, 6], values: moved) * mask)).values
            }
            return (0..<n).map { i in
                let template = templates[groups[i]]!
                var sum: Float = 0
                for k in 0..<plane { let d = values[i * plane + k] - template[k]; sum += d * d }
                return sum
            }
        }
        let standing = distances(turn: 0)
        var best = standing, bestTurn = [Float](repeating: 0, count: n)
        for turn in turns {
            for (i, d) in distances(turn: turn).enumerated() where d < best[i] { (best[i], bestTurn[i]) = (d, turn) }
        }
        let p = eta.storage.pointer
        var turned = 0
        for i in 0..<n where bestTurn[i] != 0 && best[i] < (1 - margin) * standing[i] {
            p[i * 6 + rotation] += bestTurn[i] * perRadian
            turned += 1
        }
        return turned
    }

    /// Subtracts each group's mean coordinates, so the group's common pose stays where it is.
    static func centre(_ coordinates: Tensor, members: [Int: [Int]]) {
        let p = coordinates.storage.pointer
        for indices in members.values {
            for k in 0..<6 {
                let mean = indices.reduce(Float(0)) { $0 + p[$1 * 6 + k] } / Float(indices.count)
                for i in indices { p[i * 6 + k] -= mean }
            }
        }
    }

    /// Separable Gaussian blur of `planes` planes (what lies outside counts as 0, the background).
    static func blur(_ images: [Float], planes: Int, height: Int, width: Int, sigma: Float) -> [Float] {
        guard sigma > 0 else { return images }
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Float](repeating: 0, count: images.count), out = rows
        for p in 0..<planes {
            let base = p * height * width
            for y in 0..<height { for x in 0..<width {
                var s: Float = 0
                for (t, w) in kernel.enumerated() { let xx = x + t - radius; if xx >= 0 && xx < width { s += w * images[base + y * width + xx] } }
                rows[base + y * width + x] = s
            } }
            for y in 0..<height { for x in 0..<width {
                var s: Float = 0
                for (t, w) in kernel.enumerated() { let yy = y + t - radius; if yy >= 0 && yy < height { s += w * rows[base + yy * width + x] } }
                out[base + y * width + x] = s
            } }
        }
        return out
    }
}

/// The alignment's optimiser: momentum, every step divided by one root mean square of all the
/// gradients (the coordinates are in units of how far they move the image's points, so one
/// scale fits them all). Not per coordinate, as Adam would: an image that a generator leaves
/// unchanged (a round spot under rotation) has a gradient of pure noise there, and a per-image
/// or per-generator normalisation makes that noise a full step, and the pose wanders.
struct NormalisedStep {
    var momentum: [Float], meanSquare: Float = 0, steps = 0

    init(count: Int) { momentum = [Float](repeating: 0, count: count * 6) }

    mutating func apply(to coordinates: Tensor, rate: Float) {
        guard let gradient = coordinates.gradient?.pointer else { return }
        let n = momentum.count / 6, p = coordinates.storage.pointer
        steps += 1
        var square: Float = 0
        for i in 0..<(n * 6) { square += gradient[i] * gradient[i] }
        meanSquare = 0.99 * meanSquare + 0.01 * square / Float(max(1, n * 6))
        let scale = rate / ((meanSquare / (1 - pow(0.99, Float(steps)))).squareRoot() + 1e-12)
        for i in 0..<(n * 6) {
            momentum[i] = 0.9 * momentum[i] + 0.1 * gradient[i]
            p[i] -= scale * momentum[i]
        }
    }
}
