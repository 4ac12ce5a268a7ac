/// A building block of a network: named parameters (trained), named buffers (state such as
/// batch-norm running statistics), a training/evaluation mode, and a forward pass.
///
/// Randomness (dropout) comes from the generator passed to `forward`, never from hidden state,
/// so a training run is reproduced by its seed alone.
public protocol Layer: AnyObject {
    /// The layer applied to `x`; layers without randomness ignore `random`.
    func forward(_ x: Tensor, random: inout RandomGenerator) -> Tensor
    /// Trainable tensors by name relative to this layer ("weight", "3.bias", …).
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// Non-trainable state by name ("running_mean", …).
    var buffers: [(name: String, tensor: Tensor)] { get }
    /// Training mode (batch statistics, dropout on) or evaluation mode.
    var isTraining: Bool { get set }
}

extension Layer {
    public var parameters: [(name: String, tensor: Tensor)] { [] }
    public var buffers: [(name: String, tensor: Tensor)] { [] }

    /// The forward pass in evaluation style: no randomness needed or consumed.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var unused = RandomGenerator(seed: 0)
        return forward(x, random: &unused)
    }

    public func callAsFunction(_ x: Tensor, random: inout RandomGenerator) -> Tensor { forward(x, random: &random) }

    /// Parameters then buffers, by name: everything a model file holds.
    public var stateDictionary: [(name: String, tensor: Tensor)] { parameters + buffers }

    /// Copies values into this layer's parameters and buffers by name.
    /// - Throws: `NNError.stateMismatch` naming every missing, unexpected or wrongly shaped entry.
    public func loadStateDictionary(_ values: [String: (shape: [Int], values: [Float])], source: String) throws {
        let own = stateDictionary
        var problems: [String] = []
        for (name, tensor) in own {
            guard let entry = values[name] else { problems.append("\"\(name)\" is missing"); continue }
            guard entry.shape == tensor.shape else {
                problems.append("\"\(name)\" has shape \(entry.shape), the model needs \(tensor.shape)")
                continue
            }
            entry.values.withUnsafeBufferPointer { tensor.storage.pointer.update(from: $0.baseAddress!, count: tensor.count) }
        }
        let known = Set(own.map(\.name))
        problems += values.keys.filter { !known.contains($0) }.sorted().map { "\"\($0)\" is not part of this model" }
        if !problems.isEmpty { throw NNError.stateMismatch(source: source, problems: problems) }
    }

    /// Switches this layer (and its children) to training mode.
    public func train() { isTraining = true }
    /// Switches this layer (and its children) to evaluation mode.
    public func eval() { isTraining = false }
}

/// Layers without state of their own keep their mode here.
public class StatelessLayer {
    public var isTraining = true
    public init() {}
}
