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
        // Intermediate gradients are made uninitialised; the first operation to reach one either
        // overwrites it whole (`unwrittenGradient`) or has it zero-filled before adding.
        var unwritten = Set<ObjectIdentifier>()
        func buffer(for input: Tensor) -> (TensorStorage, ObjectIdentifier) {
            let key = ObjectIdentifier(input)
            if let buffer = pending[key] { return (buffer, key) }
            let buffer = TensorStorage(uninitializedCount: input.count)
            pending[key] = buffer
            unwritten.insert(key)
            return (buffer, key)
        }
        for tensor in order.reversed() {
            guard let node = tensor.node else { continue }  // a leaf: its gradient is already in place
            guard let gradOutput = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
            node.operation.backward(inputs: node.inputs, output: tensor, gradOutput: gradOutput.pointer, gradient: { index in
                let input = node.inputs[index]
                guard input.requiresGradient else { return nil }
                if input.node == nil { return input.gradientBuffer().pointer }
                let (storage, key) = buffer(for: input)
                if unwritten.remove(key) != nil { storage.fill(0) }
                return storage.pointer
            }, unwrittenGradient: { index in
                let input = node.inputs[index]
                guard input.requiresGradient, input.node != nil else { return nil }
                let (storage, key) = buffer(for: input)
                return unwritten.remove(key) != nil ? storage.pointer : nil
            })
        }
    }
}
