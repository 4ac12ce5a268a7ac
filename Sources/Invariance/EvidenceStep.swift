import NN

/// The widths' update under `WidthObjective.evidence`: a step up the log marginal likelihood
/// of the augmentation-averaged model, with a Laplace approximation of its last layer
/// (the idea of Immer, van der Ouderaa et al., "Invariance learning in deep neural networks
/// with differentiable Laplace approximations", NeurIPS 2022, restricted to the last layer as
/// in Schwöbel et al., AISTATS 2022). For a batch of b of the N training images:
///
///     −log p(D | θ)/N ≈ NLL(f̄) + ½·log det H / N  (+ terms free of θ)
///
/// where f̄ = head(φ̄), φ̄ᵢ the body's features averaged over `copies` augmented copies of
/// image i, NLL the mean negative log-likelihood, and H = (N/b)·Σᵢ [φ̄ᵢ,1][φ̄ᵢ,1]ᵀ ⊗ Λᵢ + δI the
/// last layer's Gauss–Newton posterior precision with the prior δ = N·weight decay that the
/// network's own training assumes. The fit term rewards widths the network can fit; the Occam
/// term rewards widths that make the averaged features, and so the last layer's posterior,
/// less spread out. No λ: both are nats of the same evidence.
///
/// The network runs in evaluation mode (the MAP network as it predicts) and only the widths
/// are updated; the network is trained on its own steps by the task loss alone.
struct EvidenceStep {
    /// Augmented copies averaged per image.
    static let copies = 4

    let network: Sequential
    let augmentation: AffineAugmentation
    let task: LearningTask

    /// The objective's value (per image, in nats, up to a constant) on this batch; its
    /// gradient is left in the widths' and the network's parameters (the caller steps the
    /// widths only). nil when H is not positive definite (non-finite features).
    /// - Parameter noiseVariance: σ² of the Gaussian likelihood (regression), held fixed here.
    func objective(_ data: ImageDataset, indices: ArraySlice<Int>, trainImages: Int, weightDecay: Float, noiseVariance: Double = 1,
                   random: inout RandomGenerator) -> (total: Float, fit: Float, occam: Float)? {
        network.eval()
        defer { network.train() }
        let b = indices.count, copies = Self.copies
        let x = data.batch(indices)
        let warped = augmentation(Tensor.concatenate(Array(repeating: x, count: copies)), random: &random)
        let features = network.forward(warped, layers: 0..<(network.layers.count - 1), random: &random)
        let d = features.shape[1]
        let averaging = Tensor(shape: [1, copies], repeating: 1 / Float(copies))
        let averaged = averaging.matmul(features.reshaped([copies, b * d])).reshaped([b, d])
        let output = network.layers[network.layers.count - 1].forward(averaged, random: &random)
        let n = Double(trainImages)
        let fit: Tensor
        let outputPrecision: Double
        switch task {
        case .classification:
            fit = Tensor.crossEntropy(output, labels: data.labels(indices))
            outputPrecision = 1
        case .regression:
            let variance = max(noiseVariance, 1e-6)
            fit = Tensor.mse(output, data.targetTensor(indices)).scaled(by: Float(1 / (2 * variance)))
            outputPrecision = 1 / variance
        }
        guard let logDet = Tensor.lastLayerLaplaceLogDeterminant(features: averaged, logits: task == .regression ? nil : output,
                                                                 outputPrecision: outputPrecision, dataScale: n / Double(b),
                                                                 priorPrecision: max(n * Double(weightDecay), 1e-3)) else { return nil }
        let occam = logDet.scaled(by: Float(1 / (2 * n)))
        let total = fit + occam
        total.backward()
        return (total.item, fit.item, occam.item)
    }
}
