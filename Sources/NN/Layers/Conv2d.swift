/// 2-D convolution with a square filter; PyTorch's `nn.Conv2d` and its default initialisation
/// (Kaiming-uniform with a = √5, i.e. weights and bias uniform in ±1/√(C·R·S)).
public final class Conv2d: Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int, dilation: Int
    public var isTraining = true

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                bias: Bool = true, random: inout RandomGenerator) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0, "Conv2d: sizes must be positive")
        let fanIn = inChannels * kernelSize * kernelSize, bound = 1 / Float(fanIn).squareRoot()
        weight = uniformParameter([outChannels, inChannels, kernelSize, kernelSize], bound: bound, random: &random)
        self.bias = bias ? uniformParameter([outChannels], bound: bound, random: &random) : nil
        (self.stride, self.padding, self.dilation) = (stride, padding, dilation)
    }

    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }

    public var parameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// Fully connected layer y = x·Wᵀ + b; PyTorch's `nn.Linear` and its default initialisation.
public final class Linear: Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public var isTraining = true

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, random: inout RandomGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: sizes must be positive")
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = uniformParameter([outFeatures, inFeatures], bound: bound, random: &random)
        self.bias = bias ? uniformParameter([outFeatures], bound: bound, random: &random) : nil
    }

    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { Tensor.linear(x, weight: weight, bias: bias) }

    public var parameters: [(name: String, tensor: Tensor)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// A trainable tensor with values uniform in ±bound.
func uniformParameter(_ shape: [Int], bound: Float, random: inout RandomGenerator) -> Tensor {
    let values = (0..<shape.reduce(1, *)).map { _ in random.nextFloat(in: -bound..<bound) }
    return Tensor(shape: shape, values: values, requiresGradient: true)
}
