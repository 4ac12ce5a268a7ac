/// Layers applied in order; children are named by position ("0", "1", …), so parameter names
/// match PyTorch's `nn.Sequential` ("3.weight").
///
/// A BatchNorm2d directly followed by a ReLU runs as one fused operation (same result, one pass
/// over the activations each way instead of two); the layers and their names are unchanged.
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }

    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        forward(x, layers: layers.indices, random: &random)
    }

    /// The layers at positions `range` only, in order (a network's body without its head).
    public func forward(_ x: Tensor, layers range: Range<Int>, random: inout RandomGenerator) -> Tensor {
        var x = x
        var i = range.lowerBound
        while i < range.upperBound {
            if let norm = layers[i] as? BatchNorm2d, i + 1 < range.upperBound, layers[i + 1] is ReLU {
                x = norm.forward(x, thenReLU: true)
                i += 2
            } else {
                x = layers[i].forward(x, random: &random)
                i += 1
            }
        }
        return x
    }

    public var parameters: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { index, layer in layer.parameters.map { ("\(index).\($0.name)", $0.tensor) } }
    }

    public var buffers: [(name: String, tensor: Tensor)] {
        layers.enumerated().flatMap { index, layer in layer.buffers.map { ("\(index).\($0.name)", $0.tensor) } }
    }

    public var isTraining: Bool {
        get { layers.first?.isTraining ?? true }
        set { for layer in layers { layer.isTraining = newValue } }
    }
}
