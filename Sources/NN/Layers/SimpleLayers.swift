// Layers without parameters: activations, pooling, dropout, reshaping.

/// max(x, 0).
public final class ReLU: StatelessLayer, Layer {
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { x.relu() }
}

/// Max pooling; stride defaults to the kernel size.
public final class MaxPool2d: StatelessLayer, Layer {
    public let kernel: Int, stride: Int?, padding: Int
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { x.maxPool2d(kernel: kernel, stride: stride, padding: padding) }
}

/// Average pooling; stride defaults to the kernel size.
public final class AvgPool2d: StatelessLayer, Layer {
    public let kernel: Int, stride: Int?, padding: Int
    public init(_ kernel: Int, stride: Int? = nil, padding: Int = 0) {
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { x.avgPool2d(kernel: kernel, stride: stride, padding: padding) }
}

/// Mean over each plane: [N, C, H, W] → [N, C].
public final class GlobalAvgPool: StatelessLayer, Layer {
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { x.globalAvgPool() }
}

/// [N, …] → [N, rest].
public final class Flatten: StatelessLayer, Layer {
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor { x.flattened() }
}

/// Element dropout with probability p in training mode; the identity in evaluation mode.
public final class Dropout: StatelessLayer, Layer {
    public let p: Float
    public init(_ p: Float) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
    }
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        isTraining && p > 0 ? x.dropout(p, random: &random) : x
    }
}

/// Channel dropout (whole planes) with probability p in training mode.
public final class Dropout2d: StatelessLayer, Layer {
    public let p: Float
    public init(_ p: Float) {
        precondition(p >= 0 && p < 1, "Dropout2d: p must be in [0, 1), got \(p)")
        self.p = p
    }
    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        isTraining && p > 0 ? x.dropout2d(p, random: &random) : x
    }
}
