import Foundation

// Softmax, log-softmax and cross-entropy over the rows of an R×K matrix (R examples, K classes).
// Backward functions add into their gradient buffers. Rows are independent, so work is split
// over rows.

private func rowGrain(_ cols: Int) -> Int { max(1, 8192 / max(1, cols)) }

/// output[r] = softmax(input[r]), computed as exp(x − max) / Σ exp(x − max).
public func softmaxForward(rows: Int, cols: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                           parallelism: Parallelism) {
    parallelism.forEach(rows, grain: rowGrain(cols)) { r in
        let x = input + r * cols, y = output + r * cols
        var top = -Float.infinity
        for j in 0..<cols { top = max(top, x[j]) }
        var sum: Float = 0
        for j in 0..<cols { y[j] = expf(x[j] - top); sum += y[j] }
        for j in 0..<cols { y[j] /= sum }
    }
}

/// gradInput += y ⊙ (dy − ⟨dy, y⟩) per row, where y is the softmax output.
public func softmaxBackward(rows: Int, cols: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                            gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEach(rows, grain: rowGrain(cols)) { r in
        let y = output + r * cols, dy = gradOutput + r * cols, dx = gradInput + r * cols
        var dot: Float = 0
        for j in 0..<cols { dot += dy[j] * y[j] }
        for j in 0..<cols { dx[j] += y[j] * (dy[j] - dot) }
    }
}

/// output[r] = x − max − log Σ exp(x − max).
public func logSoftmaxForward(rows: Int, cols: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                              parallelism: Parallelism) {
    parallelism.forEach(rows, grain: rowGrain(cols)) { r in
        let x = input + r * cols, y = output + r * cols
        var top = -Float.infinity
        for j in 0..<cols { top = max(top, x[j]) }
        var sum: Float = 0
        for j in 0..<cols { sum += expf(x[j] - top) }
        let shift = top + logf(sum)
        for j in 0..<cols { y[j] = x[j] - shift }
    }
}

/// gradInput += dy − exp(y)·Σ dy per row, where y is the log-softmax output.
public func logSoftmaxBackward(rows: Int, cols: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                               gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEach(rows, grain: rowGrain(cols)) { r in
        let y = output + r * cols, dy = gradOutput + r * cols, dx = gradInput + r * cols
        var sum: Float = 0
        for j in 0..<cols { sum += dy[j] }
        for j in 0..<cols { dx[j] += dy[j] - expf(y[j]) * sum }
    }
}

/// Mean cross-entropy of logits (R×K) against class indices `labels` (R, each in 0..<K):
/// writes log-softmax into `logProbabilities` (for the backward pass) and returns
/// −(1/R)·Σ_r logp[r][label_r].
public func crossEntropyForward(rows: Int, cols: Int, logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                logProbabilities: UnsafeMutablePointer<Float>, parallelism: Parallelism) -> Float {
    precondition(rows > 0 && cols > 0, "crossEntropy: needs at least one row and one class")
    logSoftmaxForward(rows: rows, cols: cols, input: logits, output: logProbabilities, parallelism: parallelism)
    var loss = 0.0
    for r in 0..<rows {
        let label = Int(labels[r])
        precondition(label >= 0 && label < cols, "crossEntropy: label \(label) of row \(r) is not a class index 0..<\(cols)")
        loss -= Double(logProbabilities[r * cols + label])
    }
    return Float(loss / Double(rows))
}

/// gradLogits += gradLoss · (softmax − onehot(label)) / R.
public func crossEntropyBackward(rows: Int, cols: Int, logProbabilities: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                                 gradLoss: Float, gradLogits: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    let scale = gradLoss / Float(rows)
    parallelism.forEach(rows, grain: rowGrain(cols)) { r in
        let logp = logProbabilities + r * cols, dx = gradLogits + r * cols, label = Int(labels[r])
        for j in 0..<cols { dx[j] += scale * (expf(logp[j]) - (j == label ? 1 : 0)) }
    }
}

/// Mean squared error (1/count)·Σ (prediction − target)².
public func mseForward(count: Int, prediction: UnsafePointer<Float>, target: UnsafePointer<Float>) -> Float {
    precondition(count > 0, "mse: needs at least one value")
    var sum = 0.0
    for i in 0..<count { let d = Double(prediction[i] - target[i]); sum += d * d }
    return Float(sum / Double(count))
}

/// gradPrediction += gradLoss · 2(prediction − target)/count.
public func mseBackward(count: Int, prediction: UnsafePointer<Float>, target: UnsafePointer<Float>, gradLoss: Float,
                        gradPrediction: UnsafeMutablePointer<Float>) {
    let scale = 2 * gradLoss / Float(count)
    for i in 0..<count { gradPrediction[i] += scale * (prediction[i] - target[i]) }
}
