import Kernels

/// The closed set of differentiable primitives. Every other differentiable function is
/// composed from these; each one's backward pass is one case of `backward` below, which adds
/// ∂loss/∂input into the buffer `gradient(i)` gives for input i (nil: input i needs none).
enum Operation {
    /// y = x·Wᵀ + b; inputs x [N, I], W [O, I], optionally b [O].
    case linear
    /// y = a·b; inputs a [M, K], b [K, N].
    case matmul
    /// y[i] = a[i]·b[i]; inputs a [B, M, K], b [B, K, N].
    case batchedMatmul
    /// inputs x, W, optionally b.
    case conv2d(Conv2DShape)
    case maxPool2d(Pool2DShape, argmax: [Int32])
    case avgPool2d(Pool2DShape)
    /// [N, C, H, W] → [N, C].
    case globalAvgPool
    /// inputs x, γ, β; saved batch mean and 1/√(var + eps); `relu`: followed by ReLU in the same op.
    case batchNormTraining(BatchNormShape, mean: TensorStorage, invStd: TensorStorage, relu: Bool)
    /// inputs x, γ, β; the running statistics used, copied; `relu` as above.
    case batchNormInference(BatchNormShape, eps: Float, mean: TensorStorage, variance: TensorStorage, relu: Bool)
    case relu
    case softplus
    case dropout(mask: TensorStorage)
    case dropout2d(mask: TensorStorage, planeSize: Int)
    /// Same values, new shape.
    case reshape
    /// Broadcasting a + b and a ⊙ b.
    case add(Broadcast)
    case multiply(Broadcast)
    case scale(Float)
    /// Σ of all elements, and their mean.
    case sum
    case mean
    case sqrt
    case exp
    /// Over the last dimension of [R, K].
    case logSoftmax
    /// Mean cross-entropy; input logits [R, K].
    case crossEntropy(labels: [Int32], logProbabilities: TensorStorage)
    /// Mean squared error; inputs prediction, target (same shape).
    case mse
    /// inputs x [N, C, H, W], θ [N, 2, 3].
    case affineWarp(AffineWarpShape)
    /// inputs x [N, C, H, W], factors [N, 3] (brightness, contrast, gamma).
    case photometricAdjust(PhotometricShape, PhotometricRange)
    /// Along the first dimension.
    case concatenate
    /// Rows `range` of the first dimension.
    case slice(Range<Int>)
    /// log det of a last layer's Laplace precision; inputs features, optionally logits.
    case lastLayerLaplace(LaplaceInverse)

    /// `gradient(i)`: the buffer to add ∂loss/∂input i into (nil: not needed).
    /// `unwrittenGradient(i)`: that buffer only while nothing has been written to it yet (its
    /// contents undefined; the caller must then overwrite every element), else nil. Operations
    /// that can write instead of add use it to skip zero-filling fresh buffers.
    func backward(inputs: [Tensor], output: Tensor, gradOutput dy: UnsafePointer<Float>,
                  gradient: (Int) -> UnsafeMutablePointer<Float>?, unwrittenGradient: (Int) -> UnsafeMutablePointer<Float>?) {
        let par = TensorContext.parallelism
        let x = inputs[0].storage.pointer
        switch self {
        case .linear:
            let (n, i, o) = (inputs[0].shape[0], inputs[0].shape[1], inputs[1].shape[0])
            let w = inputs[1].storage.pointer
            if let dx = gradient(0) { sgemm(.none, .none, m: n, n: i, k: o, alpha: 1, a: dy, lda: o, b: w, ldb: i, beta: 1, c: dx, ldc: i, parallelism: par) }
            if let dw = gradient(1) { sgemm(.transposed, .none, m: o, n: i, k: n, alpha: 1, a: dy, lda: o, b: x, ldb: i, beta: 1, c: dw, ldc: i, parallelism: par) }
            if inputs.count > 2, let db = gradient(2) { addColumnSums(rows: n, cols: o, dy, into: db, parallelism: par) }

        case .matmul:
            let (m, k, n) = (inputs[0].shape[0], inputs[0].shape[1], inputs[1].shape[1])
            let b = inputs[1].storage.pointer
            if let da = gradient(0) { sgemm(.none, .transposed, m: m, n: k, k: n, alpha: 1, a: dy, lda: n, b: b, ldb: n, beta: 1, c: da, ldc: k, parallelism: par) }
            if let db = gradient(1) { sgemm(.transposed, .none, m: k, n: n, k: m, alpha: 1, a: x, lda: k, b: dy, ldb: n, beta: 1, c: db, ldc: n, parallelism: par) }

        case .batchedMatmul:
            let (batch, m, k, n) = (inputs[0].shape[0], inputs[0].shape[1], inputs[0].shape[2], inputs[1].shape[2])
            let b = inputs[1].storage.pointer
            let da = gradient(0), db = gradient(1)
            for i in 0..<batch {
                let dyi = dy + i * m * n
                if let da { sgemm(.none, .transposed, m: m, n: k, k: n, alpha: 1, a: dyi, lda: n, b: b + i * k * n, ldb: n, beta: 1, c: da + i * m * k, ldc: k, parallelism: .serial) }
                if let db { sgemm(.transposed, .none, m: k, n: n, k: m, alpha: 1, a: x + i * m * k, lda: k, b: dyi, ldb: n, beta: 1, c: db + i * k * n, ldc: n, parallelism: .serial) }
            }

        case .conv2d(let shape):
            let w = inputs[1].storage.pointer
            let unwritten = unwrittenGradient(0)
            if let dx = unwritten ?? gradient(0) {
                conv2dBackwardInput(shape, gradOutput: dy, weight: w, gradInput: dx, accumulate: unwritten == nil, parallelism: par)
            }
            let db = inputs.count > 2 ? gradient(2) : nil
            if let dw = gradient(1) {
                conv2dBackwardWeights(shape, input: x, gradOutput: dy, gradWeight: dw, gradBias: db, parallelism: par)
            } else if let db {
                addConvBiasGradient(shape, gradOutput: dy, into: db)
            }

        case .maxPool2d(let shape, let argmax):
            let unwritten = unwrittenGradient(0)
            if let dx = unwritten ?? gradient(0) {
                argmax.withUnsafeBufferPointer {
                    maxPool2dBackward(shape, gradOutput: dy, argmax: $0.baseAddress!, gradInput: dx, accumulate: unwritten == nil, parallelism: par)
                }
            }

        case .avgPool2d(let shape):
            if let dx = gradient(0) { avgPool2dBackward(shape, gradOutput: dy, gradInput: dx, parallelism: par) }

        case .globalAvgPool:
            let s = inputs[0].shape
            if let dx = gradient(0) { globalAvgPoolBackward(planes: s[0] * s[1], planeSize: s[2] * s[3], gradOutput: dy, gradInput: dx, parallelism: par) }

        case .batchNormTraining(let shape, let mean, let invStd, let relu):
            let dgamma = gradient(1), dbeta = gradient(2)
            // The kernel produces both parameter gradients together; give it scratch for one not wanted.
            let scratch = (dgamma == nil || dbeta == nil) ? TensorStorage(count: 2 * shape.channels) : nil
            let unwritten = unwrittenGradient(0)
            batchNormTrainingBackward(shape, input: x, gradOutput: dy, gamma: inputs[1].storage.pointer, savedMean: mean.pointer,
                                      savedInvStd: invStd.pointer, gradInput: unwritten ?? gradient(0),
                                      gradGamma: dgamma ?? scratch!.pointer, gradBeta: dbeta ?? scratch!.pointer + shape.channels,
                                      reluOutput: relu ? UnsafePointer(output.storage.pointer) : nil, accumulate: unwritten == nil,
                                      parallelism: par)

        case .batchNormInference(let shape, let eps, let mean, let variance, let relu):
            let dgamma = gradient(1), dbeta = gradient(2)
            let scratch = (dgamma == nil || dbeta == nil) ? TensorStorage(count: 2 * shape.channels) : nil
            batchNormInferenceBackward(shape, input: x, gradOutput: dy, gamma: inputs[1].storage.pointer, eps: eps,
                                       runningMean: mean.pointer, runningVar: variance.pointer, gradInput: gradient(0),
                                       gradGamma: dgamma ?? scratch!.pointer, gradBeta: dbeta ?? scratch!.pointer + shape.channels,
                                       reluOutput: relu ? UnsafePointer(output.storage.pointer) : nil, parallelism: par)

        case .relu:
            if let dx = gradient(0) { reluBackward(count: output.count, output: output.storage.pointer, gradOutput: dy, gradInput: dx, parallelism: par) }

        case .softplus:
            if let dx = gradient(0) { softplusBackward(count: output.count, input: x, gradOutput: dy, gradInput: dx) }

        case .dropout(let mask):
            if let dx = gradient(0) { dropoutBackward(count: output.count, gradOutput: dy, mask: mask.pointer, gradInput: dx, parallelism: par) }

        case .dropout2d(let mask, let planeSize):
            let unwritten = unwrittenGradient(0)
            if let dx = unwritten ?? gradient(0) {
                dropout2dBackward(planes: mask.count, planeSize: planeSize, gradOutput: dy, mask: mask.pointer, gradInput: dx,
                                  accumulate: unwritten == nil, parallelism: par)
            }

        case .reshape:
            if let dx = gradient(0) { axpy(count: output.count, alpha: 1, dy, dx, parallelism: par) }

        case .add(let layout):
            let da = gradient(0), db = gradient(1)
            layout.forEach { i, ia, ib in
                da?[ia] += dy[i]
                db?[ib] += dy[i]
            }

        case .multiply(let layout):
            let a = x, b = inputs[1].storage.pointer
            let da = gradient(0), db = gradient(1)
            layout.forEach { i, ia, ib in
                da?[ia] += dy[i] * b[ib]
                db?[ib] += dy[i] * a[ia]
            }

        case .scale(let factor):
            if let dx = gradient(0) { axpy(count: output.count, alpha: factor, dy, dx, parallelism: par) }

        case .sum:
            if let dx = gradient(0) { let g = dy[0]; for i in 0..<inputs[0].count { dx[i] += g } }

        case .mean:
            if let dx = gradient(0) { let g = dy[0] / Float(inputs[0].count); for i in 0..<inputs[0].count { dx[i] += g } }

        case .sqrt:
            if let dx = gradient(0) {
                let y = output.storage.pointer
                for i in 0..<output.count { dx[i] += y[i] > 0 ? dy[i] / (2 * y[i]) : 0 }
            }

        case .exp:
            if let dx = gradient(0) {
                let y = output.storage.pointer
                for i in 0..<output.count { dx[i] += dy[i] * y[i] }
            }

        case .logSoftmax:
            if let dx = gradient(0) {
                logSoftmaxBackward(rows: output.shape[0], cols: output.shape[1], output: output.storage.pointer, gradOutput: dy, gradInput: dx, parallelism: par)
            }

        case .crossEntropy(let labels, let logProbabilities):
            if let dx = gradient(0) {
                labels.withUnsafeBufferPointer {
                    crossEntropyBackward(rows: inputs[0].shape[0], cols: inputs[0].shape[1], logProbabilities: logProbabilities.pointer,
                                         labels: $0.baseAddress!, gradLoss: dy[0], gradLogits: dx, parallelism: par)
                }
            }

        case .mse:
            let target = inputs[1].storage.pointer
            if let dp = gradient(0) { mseBackward(count: inputs[0].count, prediction: x, target: target, gradLoss: dy[0], gradPrediction: dp) }
            if let dt = gradient(1) { mseBackward(count: inputs[0].count, prediction: target, target: x, gradLoss: dy[0], gradPrediction: dt) }

        case .affineWarp(let shape):
            affineWarpBackward(shape, input: x, theta: inputs[1].storage.pointer, gradOutput: dy,
                               gradInput: gradient(0), gradTheta: gradient(1), parallelism: par)

        case .photometricAdjust(let shape, let range):
            photometricBackward(shape, input: x, factors: inputs[1].storage.pointer, range: range, output: output.storage.pointer, gradOutput: dy,
                                gradInput: gradient(0), gradFactors: gradient(1), parallelism: par)

        case .concatenate:
            var offset = 0
            for (index, input) in inputs.enumerated() {
                if let dx = gradient(index) { axpy(count: input.count, alpha: 1, dy + offset, dx, parallelism: par) }
                offset += input.count
            }

        case .slice(let range):
            if let dx = gradient(0) {
                let row = inputs[0].count / max(1, inputs[0].shape[0])
                axpy(count: output.count, alpha: 1, dy, dx + range.lowerBound * row, parallelism: par)
            }

        case .lastLayerLaplace(let saved):
            saved.backward(inputs: inputs, gradOutput: dy, gradient: gradient)
        }
    }
}

/// db[k] += Σ over batch and plane of dy[n][k], for a convolution whose weights need no gradient.
private func addConvBiasGradient(_ shape: Conv2DShape, gradOutput dy: UnsafePointer<Float>, into db: UnsafeMutablePointer<Float>) {
    let plane = shape.outHeight * shape.outWidth
    for k in 0..<shape.outChannels {
        var sum: Float = 0
        for n in 0..<shape.batch {
            let row = dy + (n * shape.outChannels + k) * plane
            for i in 0..<plane { sum += row[i] }
        }
        db[k] += sum
    }
}
