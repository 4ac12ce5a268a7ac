import NN

/// Predictions of a network under the learned augmentation: the mean over `copies` augmented
/// copies of each image (warped, and mirrored when the model learned mirrors, then adjusted
/// photometrically when it learned any photometric family) of the log-softmax (classification) or of the output (regression); with
/// `copies` = 0, one pass without augmentation. Runs in evaluation mode without gradients.
public struct AveragedPredictor {
    public let network: Sequential
    public let augmentation: AffineAugmentation
    public let photometric: PhotometricAugmentation?
    public let task: LearningTask

    public init(network: Sequential, augmentation: AffineAugmentation, photometric: PhotometricAugmentation? = nil, task: LearningTask) {
        (self.network, self.augmentation, self.photometric, self.task) = (network, augmentation, photometric, task)
    }

    /// [N, classes] mean log-probabilities, or [N, 1] mean outputs, for x [N, C, H, W].
    public func predict(_ x: Tensor, copies: Int, random: inout RandomGenerator) -> Tensor {
        network.eval()
        return TensorContext.withoutGradients {
            guard copies > 0 else {
                let out = network(x)
                return task == .regression ? out : out.logSoftmax()
            }
            var augmented = augmentation(Tensor.concatenate(Array(repeating: x, count: copies)), random: &random)
            if let photometric { augmented = photometric(augmented, random: &random) }
            return Self.meanOverCopies(network, augmented, copies: copies) { task == .regression ? $0 : $0.logSoftmax() }
        }
    }

    /// The mean of `score(network(copy))` over the `copies` blocks of n images that `x` holds in
    /// turn: [n, width]. The network sees one copy at a time, so each layer's output holds n
    /// images, not `copies` × n, and the tensor cache (`TensorMemory`) hands the same buffers back
    /// from batch to batch. All the copies at once made the pass's outputs together more than the
    /// cache keeps beside training's (live and cached stay within 1.5 times the peak of live
    /// tensors), so every batch took them from the system afresh, a page fault per 4 KiB
    /// (`bench train`, smallnet k = 32: 1.6 GB of fresh memory in 13 training and 5 evaluation
    /// steps, 0.2 GB so; rotmnist's run peaked at 1.16 GB, 0.70 GB so).
    public static func meanOverCopies(_ network: Sequential, _ x: Tensor, copies: Int, score: (Tensor) -> Tensor) -> Tensor {
        let n = x.shape[0] / copies
        var mean: [Float] = []
        for copy in 0..<copies {
            let scored = score(network(x.slice((copy * n)..<((copy + 1) * n))))
            if mean.isEmpty { mean = [Float](repeating: 0, count: scored.count) }
            let values = scored.storage.pointer
            for i in 0..<scored.count { mean[i] += values[i] }
        }
        return Tensor(shape: [n, mean.count / n], values: mean.map { $0 / Float(copies) })
    }

    /// The predicted class of each row of a [N, classes] score tensor.
    public static func classes(_ scores: Tensor) -> [Int] {
        let (n, k) = (scores.shape[0], scores.shape[1])
        let v = scores.storage.pointer
        return (0..<n).map { r in
            var best = 0
            for j in 1..<k where v[r * k + j] > v[r * k + best] { best = j }
            return best
        }
    }
}
