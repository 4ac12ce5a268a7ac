// SGEMM: C = alpha·op(A)·op(B) + beta·C for row-major float32 matrices.
// Shapes: op(A) is M×K, op(B) is K×N, C is M×N; lda, ldb, ldc are row strides in floats.
//
// Blocking in the style of BLIS/GotoBLAS, for row-major C: the columns of C are cut into
// blocks (one or more per thread); a task packs a kc×nc block of op(B) once and then, for each
// mc×kc block of op(A) it packs, sweeps the register tile over the block in the order the tile
// asks for (`GemmKernel.TileOrder`): down C's rows with a B micro-panel held in L1, or along
// them with an A micro-panel held in L1. Every element of C sums its K products in the same order
// (kc blocks ascending, then p ascending) whatever the thread count, so the result is bitwise
// the same for any number of threads.

/// Whether an operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed
}

/// C = alpha·op(A)·op(B) + beta·C, all row-major float32.
///
/// - Parameters:
///   - m, n, k: op(A) is m×k, op(B) is k×n, C is m×n.
///   - a: with `.none`, A(i, p) = a[i·lda + p] (lda ≥ k); with `.transposed`, A(i, p) = a[p·lda + i] (lda ≥ m).
///   - b: with `.none`, B(p, j) = b[p·ldb + j] (ldb ≥ n); with `.transposed`, B(p, j) = b[j·ldb + p] (ldb ≥ k).
///   - c: C(i, j) = c[i·ldc + j], ldc ≥ n. With beta = 0, C is overwritten without being read.
///   - kernel: the register tile; the default is `GemmKernel.selected` (AUGERINO_GEMM_KERNEL, else the best this CPU has).
public func sgemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                  alpha: Float, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                  parallelism: Parallelism, kernel: GemmKernel = .selected) {
    precondition(ldb >= max(1, transB == .none ? n : k), "sgemm: ldb \(ldb) too small")
    gemm(transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: .matrix(transB, b, ldb: ldb),
         beta: beta, c: c, ldc: ldc, parallelism: parallelism, kernel: kernel)
}

/// C = alpha·op(A)·B + beta·C where B (k×n) is already packed the way `kernel` reads it: the
/// `nr`-column panels one after another, panel s holding for each p in 0..<k the `nr` values
/// B(p, s·nr + jj), the last panel zero-padded (so `packedB` holds k·⌈n/nr⌉·nr floats).
/// Producers that can write this order directly (the convolution's im2col) save the copy that
/// packing would make.
public func sgemm(_ transA: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                  packedB: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                  parallelism: Parallelism, kernel: GemmKernel = .selected) {
    gemm(transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: .packed(packedB),
         beta: beta, c: c, ldc: ldc, parallelism: parallelism, kernel: kernel)
}

/// Where the B operand comes from.
private enum GemmOperandB {
    /// A row-major matrix, packed block by block as the multiplication goes.
    case matrix(Transpose, UnsafePointer<Float>, ldb: Int)
    /// Whole panels of k rows, already packed.
    case packed(UnsafePointer<Float>)
}

private func gemm(_ transA: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                  b: GemmOperandB, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
                  parallelism: Parallelism, kernel: GemmKernel) {
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transA == .none ? k : m), "sgemm: lda \(lda) too small")
    precondition(ldc >= max(1, n), "sgemm: ldc \(ldc) too small")
    guard m > 0, n > 0 else { return }
    if k == 0 || alpha == 0 {
        scaleMatrix(c, rows: m, cols: n, ld: ldc, by: beta)
        return
    }
    let (mr, nr, kcMax, mcMax) = (kernel.mr, kernel.nr, kernel.kc, kernel.mc)
    let threads = parallelism.threads

    // Column blocks of whole nr-panels, a multiple of the thread count where n allows;
    // row blocks as well when C is too narrow to give every thread a column block.
    let nPanels = (n + nr - 1) / nr
    let mPanels = (m + mr - 1) / mr
    let wantedColumnBlocks = max((n + kernel.nc - 1) / kernel.nc, threads)
    let columnBlocks = min(nPanels, (wantedColumnBlocks + threads - 1) / threads * threads)
    let rowBlocks = columnBlocks >= threads ? 1 : min(mPanels, (threads + columnBlocks - 1) / columnBlocks)
    let tasks = columnBlocks * rowBlocks
    let maxPanelsPerColumnBlock = (nPanels + columnBlocks - 1) / columnBlocks
    let kc0 = min(kcMax, k)
    // The operand as plain values, decided once here: a switch on the enum inside the loops
    // below measured slower (the packing stopped being inlined into them).
    let (transB, matrixB, ldb, prepackedB): (Transpose, UnsafePointer<Float>, Int, UnsafePointer<Float>?)
    switch b {
    case .matrix(let trans, let matrix, let ld): (transB, matrixB, ldb, prepackedB) = (trans, matrix, ld, nil)
    case .packed(let packed): (transB, matrixB, ldb, prepackedB) = (.none, packed, 0, packed)
    }

    Parallelism(threads: min(threads, tasks)).forEachRange(tasks) { taskRange in
        // One scratch block: packed A, packed B, an edge tile; each part starts 64-byte aligned.
        let sizeB = prepackedB != nil ? 0 : (maxPanelsPerColumnBlock * nr * kc0 + 15) & ~15
        let sizeA = (mcMax * kc0 + 15) & ~15
        ScratchBuffers.with(floats: sizeA + sizeB + mr * nr) { scratch in
            let packedA = scratch, scratchB = scratch + sizeA, edge = scratchB + sizeB
            for task in taskRange {
                let columns = Parallelism.range(task % columnBlocks, of: columnBlocks, in: nPanels)
                let rows = Parallelism.range(task / columnBlocks, of: rowBlocks, in: mPanels)
                let j0 = columns.lowerBound * nr, nb = min(n, columns.upperBound * nr) - j0
                let iStart = rows.lowerBound * mr, iEnd = min(m, rows.upperBound * mr)
                guard nb > 0, iEnd > iStart else { continue }
                var p0 = 0
                while p0 < k {
                    let kc = min(kcMax, k - p0)
                    let betaHere: Float = p0 == 0 ? beta : 1
                    // The kc×nb block of B as panels: packed here, or a view of the packed operand.
                    let panels: UnsafePointer<Float>, panelStride: Int
                    if let prepackedB {
                        (panels, panelStride) = (prepackedB + columns.lowerBound * k * nr + p0 * nr, k * nr)
                    } else {
                        kernel.packB(transB == .transposed, matrixB, ldb, p0, kc, j0, nb, nr, scratchB)
                        (panels, panelStride) = (UnsafePointer(scratchB), kc * nr)
                    }
                    var i0 = iStart
                    while i0 < iEnd {
                        let mb = min(mcMax, iEnd - i0)
                        kernel.packA(transA == .transposed, a, lda, i0, mb, p0, kc, mr, packedA)
                        macroKernel(kernel, kc: kc, mb: mb, nb: nb, packedA: packedA, packedB: panels, panelStride: panelStride,
                                    c: c + i0 * ldc + j0, ldc: ldc, alpha: alpha, beta: betaHere, edge: edge)
                        i0 += mb
                    }
                    p0 += kc
                }
            }
        }
    }
}

/// Sweeps the register tile over an mb×nb block of C in `kernel.order`. B panel s starts at
/// `packedB + s·panelStride`. Partial tiles at the block's edge go through `edge`.
@inline(__always)
private func macroKernel(_ kernel: GemmKernel, kc: Int, mb: Int, nb: Int,
                         packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>, panelStride: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                         edge: UnsafeMutablePointer<Float>) {
    let (mr, nr) = (kernel.mr, kernel.nr)
    @inline(__always) func tile(_ i: Int, _ j: Int) {
        tileAt(kernel, kc: kc, rows: min(mr, mb - i), cols: min(nr, nb - j),
               panelA: packedA + (i / mr) * mr * kc, panelB: packedB + (j / nr) * panelStride,
               c: c + i * ldc + j, ldc: ldc, alpha: alpha, beta: beta, edge: edge)
    }
    switch kernel.order {
    case .downColumns:
        for j in stride(from: 0, to: nb, by: nr) {
            for i in stride(from: 0, to: mb, by: mr) { tile(i, j) }
        }
    case .alongRows:
        for i in stride(from: 0, to: mb, by: mr) {
            for j in stride(from: 0, to: nb, by: nr) { tile(i, j) }
        }
    }
}

/// One rows×cols tile of C (at most mr×nr) at `c`; a partial tile goes through `edge`.
@inline(__always)
private func tileAt(_ kernel: GemmKernel, kc: Int, rows: Int, cols: Int,
                    panelA: UnsafePointer<Float>, panelB: UnsafePointer<Float>,
                    c target: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float,
                    edge: UnsafeMutablePointer<Float>) {
    let (mr, nr, tile) = (kernel.mr, kernel.nr, kernel.tile)
    if rows == mr && cols == nr {
        tile(kc, panelA, panelB, target, ldc, alpha, beta)
    } else {
        tile(kc, panelA, panelB, edge, nr, alpha, 0)
        for r in 0..<rows {
            let dst = target + r * ldc, src = edge + r * nr
            if beta == 0 {
                for q in 0..<cols { dst[q] = src[q] }
            } else {
                for q in 0..<cols { dst[q] = src[q] + beta * dst[q] }
            }
        }
    }
}

/// C = beta·C over an m×n block; beta = 0 writes zeros without reading C.
private func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, by beta: Float) {
    for i in 0..<rows {
        let row = c + i * ld
        if beta == 0 {
            row.update(repeating: 0, count: cols)
        } else if beta != 1 {
            for j in 0..<cols { row[j] *= beta }
        }
    }
}
