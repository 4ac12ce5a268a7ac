/// Layers applied in order; children are named by position ("0", "1", …), so parameter names
/// match PyTorch's `nn.Sequential` ("3.weight").
public final class Sequential: Layer {
    public let layers: [Layer]

    public init(_ layers: [Layer]) { self.layers = layers }

    public func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        layers.reduce(x) { $1.forward($0, random: &random) }
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
