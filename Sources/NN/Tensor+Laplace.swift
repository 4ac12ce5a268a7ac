import Kernels

/// H⁻¹ of a last-layer Laplace approximation, kept from the forward pass for the backward.
final class LaplaceInverse {
    let shape: LastLayerLaplaceShape
    let likelihood: LaplaceLikelihood
    let dataScale: Double
    /// The logits' softmax [N, C] (softmax likelihood only).
    let probabilities: TensorStorage?
    let inverse: UnsafeMutablePointer<Double>

    init(shape: LastLayerLaplaceShape, likelihood: LaplaceLikelihood, dataScale: Double, probabilities: TensorStorage?) {
        (self.shape, self.likelihood, self.dataScale, self.probabilities) = (shape, likelihood, dataScale, probabilities)
        inverse = .allocate(capacity: shape.parameters * shape.parameters)
    }
    deinit { inverse.deallocate() }
}

extension Tensor {
    /// log det H of the Laplace posterior precision of a linear last layer (weight and bias)
    /// on these features: H = s·Σₙ [φₙ,1][φₙ,1]ᵀ ⊗ Λₙ + δ·I, the generalised Gauss–Newton
    /// matrix of the data scaled by `dataScale` s plus the prior precision δ. Λₙ is the softmax
    /// curvature of `logits` [N, C] (classification), or `outputPrecision` β with one output
    /// (`logits` nil: a Gaussian likelihood of variance 1/β). Differentiable in `features`
    /// [N, D] and `logits`; shape []. Returns nil when H is not positive definite.
    public static func lastLayerLaplaceLogDeterminant(features: Tensor, logits: Tensor?, outputPrecision: Double = 1,
                                                      dataScale: Double, priorPrecision: Double) -> Tensor? {
        precondition(features.rank == 2, "lastLayerLaplaceLogDeterminant: features must be [N, D], not \(features.shape)")
        let outputs = logits?.shape[1] ?? 1
        precondition(logits.map { $0.rank == 2 && $0.shape[0] == features.shape[0] } ?? true,
                     "lastLayerLaplaceLogDeterminant: logits \(logits?.shape ?? []) do not match features \(features.shape)")
        let shape = LastLayerLaplaceShape(examples: features.shape[0], features: features.shape[1], outputs: outputs)
        var probabilities: TensorStorage?
        if let logits {
            let p = TensorStorage(uninitializedCount: logits.count)
            softmaxForward(rows: shape.examples, cols: outputs, input: logits.storage.pointer, output: p.pointer, parallelism: TensorContext.parallelism)
            probabilities = p
        }
        let likelihood: LaplaceLikelihood = logits == nil ? .gaussian(precision: outputPrecision) : .softmax
        let saved = LaplaceInverse(shape: shape, likelihood: likelihood, dataScale: dataScale, probabilities: probabilities)
        guard let logDet = Kernels.lastLayerLaplaceLogDeterminant(shape, features: features.storage.pointer, likelihood: likelihood,
                                                          probabilities: probabilities.map { UnsafePointer($0.pointer) },
                                                          dataScale: dataScale, priorPrecision: priorPrecision,
                                                          inverse: saved.inverse, parallelism: TensorContext.parallelism) else { return nil }
        return Tensor(shape: [], storage: TensorStorage([Float(logDet)]), operation: .lastLayerLaplace(saved),
                      inputs: logits.map { [features, $0] } ?? [features])
    }
}

extension LaplaceInverse {
    func backward(inputs: [Tensor], gradOutput dy: UnsafePointer<Float>, gradient: (Int) -> UnsafeMutablePointer<Float>?) {
        let gradLogits = inputs.count > 1 ? gradient(1) : nil
        lastLayerLaplaceLogDeterminantBackward(shape, features: inputs[0].storage.pointer, likelihood: likelihood,
                                               probabilities: probabilities.map { UnsafePointer($0.pointer) }, dataScale: dataScale,
                                               inverse: inverse, gradOutput: dy[0], gradFeatures: gradient(0), gradLogits: gradLogits,
                                               parallelism: TensorContext.parallelism)
    }
}
