import Foundation
import NN

/// The learned distribution over mirrors and quarter turns: per family a raw parameter w and a
/// probability p = ½·σ(w) ∈ (0, ½), each image's draw z ~ Bernoulli(p) per family, applied as
/// the element H^z_h·V^z_v·T^z_t (`SymmetryElement`). p = ½ is "mirror images are the same
/// class" (the augmented data is as symmetric as it can be), p = 0 "mirroring changes what these
/// images are". Families not in `learned` keep p = 0 and are never drawn.
///
/// A draw is discrete, so no gradient flows through the image: the probabilities' gradient is
/// the score-function estimator (`scoreFunctionGradient`), unbiased, with each image's baseline
/// the mean loss of the other images in its batch.
public final class SymmetryAugmentation {
    /// w, the parameter the optimiser trains (one value per family).
    public let rawLogits: Tensor
    /// Families whose probabilities are learned; the others are held at 0.
    public let learned: Set<SymmetryFamily>
    private let mask: Tensor

    /// - Parameter initialProbabilities: p at the start, per family (missing learned ones get
    ///   `defaultProbability`); kept within [10⁻⁶, ½ − 10⁻⁶].
    public init(learned: Set<SymmetryFamily>, initialProbabilities: [SymmetryFamily: Float] = [:], defaultProbability: Float = 0.25) {
        self.learned = learned
        rawLogits = Tensor(shape: [SymmetryFamily.allCases.count],
                           values: SymmetryFamily.allCases.map { Self.logit(initialProbabilities[$0] ?? defaultProbability) },
                           requiresGradient: true)
        mask = Tensor(shape: [SymmetryFamily.allCases.count], values: SymmetryFamily.allCases.map { learned.contains($0) ? 1 : 0 })
    }

    /// w with ½·σ(w) = p (p kept within [10⁻⁶, ½ − 10⁻⁶]).
    static func logit(_ p: Float) -> Float {
        let q = Double(min(max(p, 1e-6), 0.5 - 1e-6)) * 2
        return Float(log(q / (1 - q)))
    }

    /// Sets p (learned families only).
    public func setProbabilities(_ probabilities: [SymmetryFamily: Float]) {
        let raw = SymmetryFamily.allCases.map { Self.logit(probabilities[$0] ?? 0) }
        raw.withUnsafeBufferPointer { rawLogits.storage.pointer.update(from: $0.baseAddress!, count: raw.count) }
    }

    /// p = ½·σ(w) = ½·e^(w − softplus(w)), with families that are not learned set to 0: [3],
    /// differentiable in w.
    public var probabilities: Tensor { (rawLogits - rawLogits.softplus()).exp().scaled(by: 0.5) * mask }

    /// p as plain numbers, by family.
    public var probabilityValues: [SymmetryFamily: Float] {
        let values = TensorContext.withoutGradients { probabilities.values }
        return Dictionary(uniqueKeysWithValues: SymmetryFamily.allCases.map { ($0, values[$0.index]) })
    }

    /// One draw per example: which families each applies. Draws one uniform number per example
    /// and learned family, in the families' order.
    public func sample(count n: Int, random: inout RandomGenerator) -> [SymmetryElement] {
        let p = probabilityValues
        let families = SymmetryFamily.allCases.filter(learned.contains)
        return (0..<n).map { _ in SymmetryElement(applying: Set(families.filter { random.nextFloat() < p[$0]! })) }
    }

    /// The draws' maps as a [N, 2, 2] tensor, to multiply an affine transformation's top rows by
    /// (the image then samples the original at M·A·q: mirrored, then warped).
    public static func matrices(_ draws: [SymmetryElement]) -> Tensor {
        Tensor(shape: [draws.count, 2, 2], values: draws.flatMap { $0.matrix.map(Float.init) })
    }

    /// The score-function estimate of ∂ mean(loss)/∂w from one batch: Σ_i (L_i − b_i)/N ·
    /// ∂ log P(z_i)/∂w, with b_i the mean of the other images' losses (leave-one-out: b_i does
    /// not depend on z_i, so the estimate stays unbiased). ∂ log P/∂p is z/p − (1 − z)/(1 − p),
    /// and ∂p/∂w = ½·σ(w)·(1 − σ(w)). 0 for families not learned, or with fewer than two images.
    public func scoreFunctionGradient(losses: [Float], draws: [SymmetryElement]) -> [Float] {
        let n = losses.count
        precondition(draws.count == n, "one loss per draw")
        guard n > 1 else { return [Float](repeating: 0, count: SymmetryFamily.allCases.count) }
        let total = losses.reduce(0.0) { $0 + Double($1) }
        let w = rawLogits.values
        return SymmetryFamily.allCases.map { family in
            guard learned.contains(family) else { return 0 }
            let sigma = 1 / (1 + Foundation.exp(-Double(w[family.index])))
            let p = sigma / 2, dp = sigma * (1 - sigma) / 2
            var sum = 0.0
            for i in 0..<n {
                let baseline = (total - Double(losses[i])) / Double(n - 1)
                sum += (Double(losses[i]) - baseline) * (draws[i].applies(family) ? 1 / p : -1 / (1 - p))
            }
            return Float(sum / Double(n) * dp)
        }
    }

    /// A tensor whose gradient with respect to w is `gradient` (its value means nothing): added
    /// to a loss, `backward()` puts the score-function estimate beside the other gradients.
    public func surrogate(gradient: [Float]) -> Tensor {
        (Tensor(shape: [gradient.count], values: gradient) * rawLogits).sum()
    }
}
