/// Stochastic gradient descent as PyTorch's `torch.optim.SGD`: L2 weight decay added to the
/// gradient, optional momentum (the first step's buffer is the gradient itself), dampening and
/// Nesterov momentum.
public final class SGD: Optimizer {
    public var groups: [ParameterGroup]
    public let momentum: Float, dampening: Float, nesterov: Bool
    private var slots = OptimizerSlots()

    public init(_ groups: [ParameterGroup], momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and no dampening")
        (self.groups, self.momentum, self.dampening, self.nesterov) = (groups, momentum, dampening, nesterov)
    }

    public func step() {
        for (g, group) in groups.enumerated() {
            for (p, parameter) in group.parameters.enumerated() {
                guard let gradient = parameter.gradient else { continue }
                let x = parameter.storage.pointer, dx = gradient.pointer, n = parameter.count
                var direction = (0..<n).map { dx[$0] + group.weightDecay * x[$0] }
                if momentum != 0 {
                    var buffer = slots[g, p, "momentum_buffer"] ?? direction
                    if slots[g, p, "momentum_buffer"] != nil {
                        for i in 0..<n { buffer[i] = momentum * buffer[i] + (1 - dampening) * direction[i] }
                    }
                    slots[g, p, "momentum_buffer"] = buffer
                    if nesterov {
                        for i in 0..<n { direction[i] += momentum * buffer[i] }
                    } else {
                        direction = buffer
                    }
                }
                for i in 0..<n { x[i] -= group.learningRate * direction[i] }
            }
        }
    }

    public var state: [(name: String, values: [Float])] { slots.named }

    public func loadState(_ saved: [String: [Float]], source: String) throws {
        var sizes: [String: Int] = [:]
        for (g, group) in groups.enumerated() {
            for (p, parameter) in group.parameters.enumerated() { sizes[OptimizerSlots.key(g, p, "momentum_buffer")] = parameter.count }
        }
        try slots.load(saved, expectedSizes: sizes, source: source)
    }
}
