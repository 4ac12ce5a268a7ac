import Kernels

extension Tensor {
    /// Log-softmax over the last dimension of [R, K].
    public func logSoftmax() -> Tensor {
        precondition(rank == 2, "logSoftmax: expects [rows, classes], got \(shape)")
        let out = TensorStorage(uninitializedCount: count)
        logSoftmaxForward(rows: shape[0], cols: shape[1], input: storage.pointer, output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: shape, storage: out, operation: .logSoftmax, inputs: [self])
    }

    /// Mean cross-entropy of logits [R, K] against class indices (each in 0..<K); shape [].
    public static func crossEntropy(_ logits: Tensor, labels: [Int32]) -> Tensor {
        precondition(logits.rank == 2 && labels.count == logits.shape[0], "crossEntropy: \(labels.count) labels for logits \(logits.shape)")
        let logp = TensorStorage(uninitializedCount: logits.count)
        let loss = labels.withUnsafeBufferPointer {
            crossEntropyForward(rows: logits.shape[0], cols: logits.shape[1], logits: logits.storage.pointer, labels: $0.baseAddress!,
                                logProbabilities: logp.pointer, parallelism: TensorContext.parallelism)
        }
        return Tensor(shape: [], storage: TensorStorage([loss]), operation: .crossEntropy(labels: labels, logProbabilities: logp), inputs: [logits])
    }

    /// Mean squared error between two tensors of one shape; shape [].
    public static func mse(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape, "mse: prediction \(prediction.shape) and target \(target.shape) differ")
        let loss = mseForward(count: prediction.count, prediction: prediction.storage.pointer, target: target.storage.pointer)
        return Tensor(shape: [], storage: TensorStorage([loss]), operation: .mse, inputs: [prediction, target])
    }
}
