/// One tape entry: the primitive that made a tensor and the tensors it read.
final class Node {
    let operation: Operation
    let inputs: [Tensor]
    init(operation: Operation, inputs: [Tensor]) {
        self.operation = operation
        self.inputs = inputs
    }
}

extension Tensor {
    /// Reverse-mode differentiation from this one-element tensor (a loss): adds ∂self/∂leaf into
    /// the `gradient` of every leaf that requires one. Intermediate gradients are freed as soon
    /// as they have been passed on.
    public func backward() {
        precondition(count == 1, "backward: the loss must have one element, this tensor has shape \(shape)")
        guard requiresGradient else { return }
        // Post-order over the tape (inputs before the tensors made from them), without recursion.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(tensor: Tensor, expanded: Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGradient && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        var pending: [ObjectIdentifier: TensorStorage] = [ObjectIdentifier(self): TensorStorage(count: 1, repeating: 1)]
        for tensor in order.reversed() {
            guard let node = tensor.node else { continue }  // a leaf: its gradient is already in place
            guard let gradOutput = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
            node.operation.backward(inputs: node.inputs, output: tensor, gradOutput: gradOutput.pointer) { index in
                let input = node.inputs[index]
                guard input.requiresGradient else { return nil }
                if input.node == nil { return input.gradientBuffer().pointer }
                let key = ObjectIdentifier(input)
                if let buffer = pending[key] { return buffer.pointer }
                let buffer = TensorStorage(count: input.count)
                pending[key] = buffer
                return buffer.pointer
            }
        }
    }
}
