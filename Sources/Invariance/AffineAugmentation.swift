import Foundation
import NN

/// The learned distribution over affine transformations (Benton et al., 2020): raw widths w,
/// θ = softplus(w), per example ε_k = (u_k − ½)·θ_k with u ~ U[0, 1), so θ_k is the full width
/// of generator k's interval; the transformation is exp(Σ ε_k G_k), applied by bilinear
/// sampling. Generators not in `learned` keep θ = 0 exactly. With `symmetry`, each image is
/// also mirrored (or quarter-turned) by its own draw, in the same warp.
public final class AffineAugmentation {
    /// w, the parameter the optimiser trains (6 values, one per generator).
    public let rawWidths: Tensor
    /// Generators whose widths are learned; the others are held at 0.
    public let learned: Set<AffineGenerator>
    /// Mirrors and quarter turns drawn with learned probabilities, applied with the warp; nil
    /// when none is learned (the draws are then those of a run without them).
    public let symmetry: SymmetryAugmentation?
    private let mask: Tensor

    /// - Parameter initialWidths: θ at the start, per generator (missing learned ones get `defaultWidth`).
    public init(learned: Set<AffineGenerator> = Set(AffineGenerator.allCases), initialWidths: [AffineGenerator: Float] = [:],
                defaultWidth: Float = 0.1, symmetry: SymmetryAugmentation? = nil) {
        self.learned = learned
        self.symmetry = symmetry
        let raw = AffineGenerator.allCases.map { generator -> Float in
            let width = max(initialWidths[generator] ?? defaultWidth, 1e-6)
            return inverseSoftplus(width)
        }
        rawWidths = Tensor(shape: [6], values: raw, requiresGradient: true)
        mask = Tensor(shape: [6], values: AffineGenerator.allCases.map { learned.contains($0) ? 1 : 0 })
    }

    /// Sets θ (learned generators only; at least 10⁻⁶, as at `init`).
    public func setWidths(_ widths: [AffineGenerator: Float]) {
        let raw = AffineGenerator.allCases.map { inverseSoftplus(max(widths[$0] ?? 0, 1e-6)) }
        raw.withUnsafeBufferPointer { rawWidths.storage.pointer.update(from: $0.baseAddress!, count: 6) }
    }

    /// θ = softplus(w), with generators that are not learned set to 0: [6].
    public var widths: Tensor { rawWidths.softplus() * mask }

    /// θ as plain numbers, by generator.
    public var widthValues: [AffineGenerator: Float] {
        let values = TensorContext.withoutGradients { widths.values }
        return Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.map { ($0, values[$0.index]) })
    }

    /// One random transformation per example: [N, 2, 3] affine matrices (the top two rows of
    /// exp(Σ ε_k G_k), times the example's mirror when `symmetry` is set); differentiable in w.
    public func sampleTransforms(count n: Int, random: inout RandomGenerator) -> Tensor {
        sampleTransformsAndMirrors(count: n, random: &random).transforms
    }

    /// `sampleTransforms`, with each example's symmetry draw (nil without `symmetry`): the
    /// score-function gradient of the probabilities needs them.
    public func sampleTransformsAndMirrors(count n: Int, random: inout RandomGenerator) -> (transforms: Tensor, mirrors: [SymmetryElement]?) {
        let u = Tensor(shape: [n, 6], values: (0..<(n * 6)).map { _ in random.nextFloat() - 0.5 })
        let affine = Self.transforms(epsilon: u * widths)
        guard let symmetry else { return (affine, nil) }
        let draws = symmetry.sample(count: n, random: &random)
        return (SymmetryAugmentation.matrices(draws).batchedMatmul(affine), draws)
    }

    /// The affine matrices [N, 2, 3] (top two rows of exp(Σ ε_k G_k)) of given coordinates ε
    /// [N, 6]; differentiable in ε.
    public static func transforms(epsilon: Tensor) -> Tensor {
        let n = epsilon.shape[0]
        let generators = Tensor(shape: [6, 9], values: AffineGenerator.stacked)
        let algebra = epsilon.matmul(generators).reshaped([n, 3, 3])  // Σ ε_k G_k
        let topRows = Tensor(shape: [n, 2, 3], values: (0..<n).flatMap { _ in [Float(1), 0, 0, 0, 1, 0] })
        return topRows.batchedMatmul(matrixExponential(algebra))
    }

    /// `images` ([N, C, H, W] values) warped by given coordinates `epsilon` ([N·6], the
    /// generators' order), outside any gradient: the readings' warp of whole image sets.
    public static func warped(_ images: [Float], channels c: Int, height h: Int, width w: Int, epsilon: [Float]) -> [Float] {
        let n = epsilon.count / 6
        return TensorContext.withoutGradients {
            Tensor.affineWarp(Tensor(shape: [n, c, h, w], values: images), theta: transforms(epsilon: Tensor(shape: [n, 6], values: epsilon))).values
        }
    }

    /// x [N, C, H, W] warped by one random transformation per image.
    public func callAsFunction(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        Tensor.affineWarp(x, theta: sampleTransforms(count: x.shape[0], random: &random))
    }
}

/// w with softplus(w) = θ, computed stably: θ + log(1 − e^(−θ)).
func inverseSoftplus(_ theta: Float) -> Float {
    Float(Double(theta) + log(-expm1(-Double(theta))))
}
