import Kernels

// The primitives behind the layers: convolution, pooling, normalisation, activations, dropout.

extension Tensor {
    /// 2-D convolution of x [N, C, H, W] with weight [K, C, R, S] and optional bias [K].
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, dilation: Int = 1) -> Tensor {
        precondition(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[1],
                     "conv2d: input \(x.shape) does not fit weight \(weight.shape)")
        let shape = Conv2DShape(batch: x.shape[0], inChannels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                outChannels: weight.shape[0], kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
                                strideH: stride, strideW: stride, padH: padding, padW: padding, dilationH: dilation, dilationW: dilation)
        let out = TensorStorage(uninitializedCount: shape.outputCount)
        conv2dForward(shape, input: x.storage.pointer, weight: weight.storage.pointer, bias: bias?.storage.pointer,
                      output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: [shape.batch, shape.outChannels, shape.outHeight, shape.outWidth], storage: out,
                      operation: .conv2d(shape), inputs: bias.map { [x, weight, $0] } ?? [x, weight])
    }

    /// Max pooling over windows of `kernel` (stride defaults to the kernel).
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        precondition(rank == 4, "maxPool2d: expects [N, C, H, W], got \(shape)")
        let pool = Pool2DShape(planes: shape[0] * shape[1], height: shape[2], width: shape[3], kernel: kernel, stride: stride, padding: padding)
        let out = TensorStorage(uninitializedCount: pool.planes * pool.outHeight * pool.outWidth)
        var argmax = [Int32](repeating: 0, count: out.count)
        argmax.withUnsafeMutableBufferPointer {
            maxPool2dForward(pool, input: storage.pointer, output: out.pointer, argmax: $0.baseAddress!, parallelism: TensorContext.parallelism)
        }
        return Tensor(shape: [shape[0], shape[1], pool.outHeight, pool.outWidth], storage: out,
                      operation: .maxPool2d(pool, argmax: argmax), inputs: [self])
    }

    /// Average pooling (padding counted as zeros).
    public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        precondition(rank == 4, "avgPool2d: expects [N, C, H, W], got \(shape)")
        let pool = Pool2DShape(planes: shape[0] * shape[1], height: shape[2], width: shape[3], kernel: kernel, stride: stride, padding: padding)
        let out = TensorStorage(uninitializedCount: pool.planes * pool.outHeight * pool.outWidth)
        avgPool2dForward(pool, input: storage.pointer, output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: [shape[0], shape[1], pool.outHeight, pool.outWidth], storage: out, operation: .avgPool2d(pool), inputs: [self])
    }

    /// Mean over each H×W plane: [N, C, H, W] → [N, C].
    public func globalAvgPool() -> Tensor {
        precondition(rank == 4, "globalAvgPool: expects [N, C, H, W], got \(shape)")
        let out = TensorStorage(uninitializedCount: shape[0] * shape[1])
        globalAvgPoolForward(planes: shape[0] * shape[1], planeSize: shape[2] * shape[3], input: storage.pointer, output: out.pointer,
                             parallelism: TensorContext.parallelism)
        return Tensor(shape: [shape[0], shape[1]], storage: out, operation: .globalAvgPool, inputs: [self])
    }

    /// Batch normalisation of [N, C, H, W] or [N, C]. In training it normalises with the batch
    /// statistics and updates `runningMean`/`runningVariance` in place; otherwise it uses them.
    /// With `relu`, the result is `batchNorm(…).relu()` computed in one pass each way (the
    /// conv → batch norm → ReLU blocks of the paper's networks spend much of their time in
    /// these memory-bound passes).
    public static func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVariance: Tensor,
                                 training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = false) -> Tensor {
        precondition(x.rank == 4 || x.rank == 2, "batchNorm: expects [N, C, H, W] or [N, C], got \(x.shape)")
        let channels = x.shape[1]
        precondition([gamma, beta, runningMean, runningVariance].allSatisfy { $0.count == channels }, "batchNorm: parameters must have \(channels) values")
        let shape = BatchNormShape(batch: x.shape[0], channels: channels, planeSize: x.rank == 4 ? x.shape[2] * x.shape[3] : 1)
        let out = TensorStorage(uninitializedCount: x.count)
        let par = TensorContext.parallelism
        if training {
            let mean = TensorStorage(uninitializedCount: channels), invStd = TensorStorage(uninitializedCount: channels)
            batchNormTrainingForward(shape, input: x.storage.pointer, gamma: gamma.storage.pointer, beta: beta.storage.pointer, eps: eps,
                                     momentum: momentum, runningMean: runningMean.storage.pointer, runningVar: runningVariance.storage.pointer,
                                     output: out.pointer, savedMean: mean.pointer, savedInvStd: invStd.pointer, relu: relu, parallelism: par)
            return Tensor(shape: x.shape, storage: out, operation: .batchNormTraining(shape, mean: mean, invStd: invStd, relu: relu),
                          inputs: [x, gamma, beta])
        }
        batchNormInferenceForward(shape, input: x.storage.pointer, gamma: gamma.storage.pointer, beta: beta.storage.pointer, eps: eps,
                                  runningMean: runningMean.storage.pointer, runningVar: runningVariance.storage.pointer, output: out.pointer,
                                  relu: relu, parallelism: par)
        return Tensor(shape: x.shape, storage: out,
                      operation: .batchNormInference(shape, eps: eps, mean: runningMean.storage.copy(), variance: runningVariance.storage.copy(),
                                                     relu: relu),
                      inputs: [x, gamma, beta])
    }

    /// max(x, 0).
    public func relu() -> Tensor {
        let out = TensorStorage(uninitializedCount: count)
        reluForward(count: count, input: storage.pointer, output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: shape, storage: out, operation: .relu, inputs: [self])
    }

    /// log(1 + eˣ).
    public func softplus() -> Tensor {
        let out = TensorStorage(uninitializedCount: count)
        softplusForward(count: count, input: storage.pointer, output: out.pointer)
        return Tensor(shape: shape, storage: out, operation: .softplus, inputs: [self])
    }

    /// Inverted dropout: each element kept with probability 1 − p and scaled by 1/(1 − p).
    public func dropout(_ p: Float, random: inout RandomGenerator) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout: p must be in [0, 1), got \(p)")
        let mask = TensorStorage(uninitializedCount: count), keep = 1 / (1 - p)
        for i in 0..<count { mask.pointer[i] = random.nextFloat() < p ? 0 : keep }
        let out = TensorStorage(uninitializedCount: count)
        dropoutForward(count: count, input: storage.pointer, mask: mask.pointer, output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: shape, storage: out, operation: .dropout(mask: mask), inputs: [self])
    }

    /// Channel dropout on [N, C, H, W]: whole planes dropped with probability p.
    public func dropout2d(_ p: Float, random: inout RandomGenerator) -> Tensor {
        precondition(rank == 4 && p >= 0 && p < 1, "dropout2d: expects [N, C, H, W] and p in [0, 1), got \(shape), \(p)")
        let planes = shape[0] * shape[1], planeSize = shape[2] * shape[3], keep = 1 / (1 - p)
        let mask = TensorStorage(uninitializedCount: planes)
        for i in 0..<planes { mask.pointer[i] = random.nextFloat() < p ? 0 : keep }
        let out = TensorStorage(uninitializedCount: count)
        dropout2dForward(planes: planes, planeSize: planeSize, input: storage.pointer, mask: mask.pointer, output: out.pointer,
                         parallelism: TensorContext.parallelism)
        return Tensor(shape: shape, storage: out, operation: .dropout2d(mask: mask, planeSize: planeSize), inputs: [self])
    }

    /// Bilinear warp of x [N, C, H, W] by θ [N, 2, 3] (PyTorch's affine_grid + grid_sample,
    /// zeros padding, align_corners = true); differentiable in both.
    public static func affineWarp(_ x: Tensor, theta: Tensor) -> Tensor {
        precondition(x.rank == 4 && theta.shape == [x.shape[0], 2, 3], "affineWarp: input \(x.shape) needs θ of shape [\(x.shape[0]), 2, 3], got \(theta.shape)")
        let shape = AffineWarpShape(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3])
        let out = TensorStorage(uninitializedCount: x.count)
        affineWarpForward(shape, input: x.storage.pointer, theta: theta.storage.pointer, output: out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: x.shape, storage: out, operation: .affineWarp(shape), inputs: [x, theta])
    }

    /// x [N, C, H, W] with each image's brightness, contrast, gamma, saturation and hue set by
    /// factors [N, 5] (`photometricFactorCount`: torchvision's adjust_brightness,
    /// adjust_contrast, adjust_saturation, adjust_hue, adjust_gamma on the values mapped onto
    /// [0, 1] by p = x·gain + offset; saturation and hue for three channels only); differentiable
    /// in both.
    public static func photometricAdjust(_ x: Tensor, factors: Tensor, gain: Float, offset: Float) -> Tensor {
        let range = PhotometricRange(gain: gain, offset: offset)
        precondition(x.rank == 4 && factors.shape == [x.shape[0], photometricFactorCount],
                     "photometricAdjust: input \(x.shape) needs factors of shape [\(x.shape[0]), \(photometricFactorCount)], got \(factors.shape)")
        let shape = PhotometricShape(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3])
        let out = TensorStorage(uninitializedCount: x.count)
        photometricForward(shape, input: x.storage.pointer, factors: factors.storage.pointer, range: range, output: out.pointer,
                           parallelism: TensorContext.parallelism)
        return Tensor(shape: x.shape, storage: out, operation: .photometricAdjust(shape, range), inputs: [x, factors])
    }
}
