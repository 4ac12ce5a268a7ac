/// Batch normalisation over channels of [N, C, H, W] (or [N, C]); PyTorch's `nn.BatchNorm2d`:
/// γ = 1, β = 0, running mean 0 and variance 1 at start, momentum 0.1, eps 1e-5.
public final class BatchNorm2d: Layer {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVariance: Tensor
    public let momentum: Float, eps: Float
    public var isTraining = true

    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        weight = Tensor(shape: [channels], repeating: 1, requiresGradient: true)
        bias = Tensor(shape: [channels], repeating: 0, requiresGradient: true)
        runningMean = Tensor(shape: [channels], repeating: 0)
        runningVariance = Tensor(shape: [channels], repeating: 1)
        (self.momentum, self.eps) = (momentum, eps)
    }

    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { forward(x, thenReLU: false) }

    /// The layer, followed by ReLU when `thenReLU` (one fused operation; `Sequential` uses it
    /// for a BatchNorm2d directly followed by a ReLU).
    public func forward(_ x: Tensor, thenReLU: Bool) -> Tensor {
        Tensor.batchNorm(x, gamma: weight, beta: bias, runningMean: runningMean, runningVariance: runningVariance,
                         training: isTraining, momentum: momentum, eps: eps, relu: thenReLU)
    }

    public var parameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }
    public var buffers: [(name: String, tensor: Tensor)] { [("running_mean", runningMean), ("running_var", runningVariance)] }
}
