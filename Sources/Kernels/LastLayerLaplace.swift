import Foundation

// The log-determinant of a linear last layer's Laplace posterior precision, and its gradient.
// N examples, D features per example (a constant 1 is appended inside as the bias's feature,
// D' = D + 1), C outputs, P = D'·C parameters indexed (d, c) → d·C + c, as the weight [C, D]
// and bias [C] of a `Linear` layer laid out feature-major.
//
//   H = s · Σₙ (φ'ₙ φ'ₙᵀ) ⊗ Λₙ + δ·I        (P×P, the generalised Gauss–Newton matrix)
//
// with Λₙ = diag(pₙ) − pₙpₙᵀ for softmax outputs (pₙ = softmax of the logits) or Λₙ = β (the
// output precision) for a Gaussian likelihood with one output; s scales a batch up to the data
// set; δ is the prior precision. Sums run in double precision (H is built from up to thousands
// of outer products and its determinant spans hundreds of orders of magnitude).

/// Sizes of one last-layer Laplace computation.
public struct LastLayerLaplaceShape: Sendable, Equatable {
    public let examples: Int
    public let features: Int
    public let outputs: Int
    public init(examples: Int, features: Int, outputs: Int) {
        precondition(examples > 0 && features > 0 && outputs > 0, "LastLayerLaplaceShape: sizes must be positive")
        (self.examples, self.features, self.outputs) = (examples, features, outputs)
    }
    /// P = (D + 1)·C.
    public var parameters: Int { (features + 1) * outputs }
}

/// The curvature of the likelihood in the outputs.
public enum LaplaceLikelihood: Sendable, Equatable {
    /// Softmax over C classes: Λₙ = diag(pₙ) − pₙpₙᵀ, with pₙ read from a [N, C] buffer.
    case softmax
    /// Gaussian with one output and this precision β = 1/σ²: Λₙ = β.
    case gaussian(precision: Double)
}

/// log det H (natural log), writing H⁻¹ (P×P, row-major) into `inverse`; nil when H is not
/// positive definite (which needs δ ≤ 0 or non-finite inputs).
/// - Parameters:
///   - probabilities: [N, C] softmax outputs for `.softmax`; ignored for `.gaussian`.
public func lastLayerLaplaceLogDeterminant(_ shape: LastLayerLaplaceShape, features: UnsafePointer<Float>, likelihood: LaplaceLikelihood,
                                           probabilities: UnsafePointer<Float>?, dataScale: Double, priorPrecision: Double,
                                           inverse: UnsafeMutablePointer<Double>, parallelism: Parallelism) -> Double? {
    let (n, dp, c, p) = (shape.examples, shape.features + 1, shape.outputs, shape.parameters)
    let lambdaValues = outputCurvatures(shape, likelihood: likelihood, probabilities: probabilities)
    let phiValues = augmentedFeatures(shape, features)
    return lambdaValues.withUnsafeBufferPointer { lambda in phiValues.withUnsafeBufferPointer { phi in
    // H, row block by row block: row (d, c) needs only φ'[·, d].
    let h = inverse
    parallelism.forEach(dp, grain: max(1, 64 / max(1, c))) { d in
        for row in (d * c)..<((d + 1) * c) { (h + row * p).update(repeating: 0, count: p) }
        for e in 0..<dp {
            for example in 0..<n {
                let weight = dataScale * phi[example * dp + d] * phi[example * dp + e]
                if weight == 0 { continue }
                let curvature = lambda.baseAddress! + example * c * c
                for ci in 0..<c {
                    let row = h + (d * c + ci) * p + e * c
                    for k in 0..<c { row[k] += weight * curvature[ci * c + k] }
                }
            }
        }
        for row in (d * c)..<((d + 1) * c) { h[row * p + row] += priorPrecision }
    }
    return choleskyLogDeterminantAndInverse(p, h)
    } }
}

/// Adds g·∂(log det H)/∂features into `gradFeatures` ([N, D]) and, for `.softmax`,
/// g·∂(log det H)/∂logits into `gradLogits` ([N, C]; the probabilities are the logits' softmax),
/// given `inverse` = H⁻¹ from the forward call. Either gradient may be nil.
public func lastLayerLaplaceLogDeterminantBackward(_ shape: LastLayerLaplaceShape, features: UnsafePointer<Float>, likelihood: LaplaceLikelihood,
                                                   probabilities: UnsafePointer<Float>?, dataScale: Double,
                                                   inverse: UnsafePointer<Double>, gradOutput g: Float,
                                                   gradFeatures: UnsafeMutablePointer<Float>?, gradLogits: UnsafeMutablePointer<Float>?,
                                                   parallelism: Parallelism) {
    let (dp, c, p) = (shape.features + 1, shape.outputs, shape.parameters)
    let lambdaValues = outputCurvatures(shape, likelihood: likelihood, probabilities: probabilities)
    let phiValues = augmentedFeatures(shape, features)
    let scale = Double(g) * dataScale
    lambdaValues.withUnsafeBufferPointer { lambda in phiValues.withUnsafeBufferPointer { phi in
    parallelism.forEach(shape.examples, grain: 4) { example in
        let x = phi.baseAddress! + example * dp
        let curvature = lambda.baseAddress! + example * c * c
        // T[(d, ci), k] = Σₑ H⁻¹[(d, ci), (e, k)] φ'ₑ
        var t = [Double](repeating: 0, count: p * c)
        for row in 0..<p {
            let m = inverse + row * p
            for e in 0..<dp where x[e] != 0 {
                for k in 0..<c { t[row * c + k] += m[e * c + k] * x[e] }
            }
        }
        // ∂/∂φ'_d = 2s Σ_{ci,k} T[(d, ci), k] Λ[ci, k]   (H⁻¹ and Λ are symmetric)
        if let gradFeatures {
            for d in 0..<(dp - 1) {
                var sum = 0.0
                for ci in 0..<c { for k in 0..<c { sum += t[(d * c + ci) * c + k] * curvature[ci * c + k] } }
                gradFeatures[example * (dp - 1) + d] += Float(2 * scale * sum)
            }
        }
        guard case .softmax = likelihood, let gradLogits, let probabilities else { return }
        // ∂/∂Λ[ci, k] = s Σ_d φ'_d T[(d, ci), k]; then through Λ = diag(p) − ppᵀ and the softmax.
        var dLambda = [Double](repeating: 0, count: c * c)
        for d in 0..<dp where x[d] != 0 {
            for ci in 0..<c { for k in 0..<c { dLambda[ci * c + k] += x[d] * t[(d * c + ci) * c + k] } }
        }
        let prob = (0..<c).map { Double(probabilities[example * c + $0]) }
        var dProb = [Double](repeating: 0, count: c)
        for j in 0..<c {
            var sum = dLambda[j * c + j]
            for k in 0..<c { sum -= (dLambda[j * c + k] + dLambda[k * c + j]) * prob[k] }
            dProb[j] = scale * sum
        }
        let dot = zip(prob, dProb).reduce(0.0) { $0 + $1.0 * $1.1 }
        for j in 0..<c { gradLogits[example * c + j] += Float(prob[j] * (dProb[j] - dot)) }
    }
    } }
}

/// Λₙ for every example, [N, C, C].
private func outputCurvatures(_ shape: LastLayerLaplaceShape, likelihood: LaplaceLikelihood, probabilities: UnsafePointer<Float>?) -> [Double] {
    let (n, c) = (shape.examples, shape.outputs)
    switch likelihood {
    case .gaussian(let precision):
        precondition(c == 1, "lastLayerLaplace: a Gaussian likelihood has one output, not \(c)")
        return [Double](repeating: precision, count: n)
    case .softmax:
        guard let probabilities else { preconditionFailure("lastLayerLaplace: softmax curvature needs the probabilities") }
        var lambda = [Double](repeating: 0, count: n * c * c)
        for example in 0..<n {
            let pn = probabilities + example * c
            for i in 0..<c {
                for k in 0..<c { lambda[(example * c + i) * c + k] = (i == k ? Double(pn[i]) : 0) - Double(pn[i]) * Double(pn[k]) }
            }
        }
        return lambda
    }
}

/// φ' = [φ, 1] per example, [N, D + 1], in double precision.
private func augmentedFeatures(_ shape: LastLayerLaplaceShape, _ features: UnsafePointer<Float>) -> [Double] {
    let (n, d) = (shape.examples, shape.features)
    var phi = [Double](repeating: 1, count: n * (d + 1))
    for example in 0..<n { for j in 0..<d { phi[example * (d + 1) + j] = Double(features[example * d + j]) } }
    return phi
}

/// For a symmetric positive definite P×P matrix `a` (row-major, overwritten by its inverse):
/// log det a by Cholesky (a = LLᵀ), and a⁻¹ = L⁻ᵀL⁻¹. nil, leaving `a` undefined, when a
/// pivot is not positive (the matrix is not positive definite or holds a NaN).
public func choleskyLogDeterminantAndInverse(_ p: Int, _ a: UnsafeMutablePointer<Double>) -> Double? {
    // L in the lower triangle, column by column.
    for j in 0..<p {
        var diagonal = a[j * p + j]
        for k in 0..<j { diagonal -= a[j * p + k] * a[j * p + k] }
        guard diagonal > 0, diagonal.isFinite else { return nil }
        let pivot = diagonal.squareRoot()
        a[j * p + j] = pivot
        for i in (j + 1)..<max(j + 1, p) {
            var sum = a[i * p + j]
            for k in 0..<j { sum -= a[i * p + k] * a[j * p + k] }
            a[i * p + j] = sum / pivot
        }
    }
    var logDet = 0.0
    for j in 0..<p { logDet += 2 * log(a[j * p + j]) }
    // L⁻¹ in place (lower triangle), row by row: X L = I solved forwards.
    var inverseL = [Double](repeating: 0, count: p * p)
    for i in 0..<p {
        inverseL[i * p + i] = 1 / a[i * p + i]
        for j in stride(from: i - 1, through: 0, by: -1) {
            var sum = 0.0
            for k in (j + 1)...i { sum += inverseL[i * p + k] * a[k * p + j] }
            inverseL[i * p + j] = -sum / a[j * p + j]
        }
    }
    // a⁻¹[i][j] = Σ_{k ≥ max(i, j)} L⁻¹[k][i] L⁻¹[k][j]
    for i in 0..<p {
        for j in 0...i {
            var sum = 0.0
            for k in i..<p { sum += inverseL[k * p + i] * inverseL[k * p + j] }
            a[i * p + j] = sum
            a[j * p + i] = sum
        }
    }
    return logDet
}
