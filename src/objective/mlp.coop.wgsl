// The network's cooperative form (shaders/cooperative.wgsl), with the arithmetic of mlp.wgsl,
// whose activation and loss it calls. Each lane with coordinates runs every row's forward and
// backward pass itself (the lanes share nothing per row: no barriers in the row loop, and a row
// costs a lane O(D)) and adds the row's part to its own coordinates lo..hi only, so that each
// coordinate of g sums over the rows in mlp.wgsl's order. Lane 0 alone counts the losses in f and
// the classes predicted; the layers' norms in the regulariser are sums over the lanes. Generated
// in front of this file: the MLP_* constants, mlp.wgsl's functions, and `mlp_row_lanes` and
// `mlp_regularise_lanes` (the layers unrolled with their sizes and offsets as constants, their
// inner sums written out: software adapters stop an invocation after 65535 loop iterations).

// Adds to coordinate c of g (a full evaluation) or of v (a minibatch term).
fn mlp_add(c: u32, value: real, term: bool) {
    if (term) {
        v_add(c, value);
    } else {
        g_add(c, value);
    }
}

fn objective_lanes() -> Eval {
    for (var c = lo; c < hi; c++) {
        g_set(c, 0.0);
    }
    var f: real = 0.0;
    var seen = 0u;
    // A lane without coordinates (D does not fill the lanes) has nothing to add; lane 0 counts.
    if (lo < hi || lane == 0u) {
        for (var r = 0u; r < MLP_ROWS; r++) {
            let row = mlp_row_lanes(r, MLP_INV_N, false);
            f = f + row.loss;
            seen = seen | (1u << row.k);
        }
    }
    let reg = mlp_regularise_lanes(false);
    if (lane == 0u) {
        return Eval(f * MLP_INV_N + reg, countOneBits(seen), 1u);
    }
    return Eval(0.0, 0u, 1u);
}

fn objective_term_lanes(k: u32) {
    if (lo < hi) {
        mlp_row_lanes(k, 1.0, true);
    }
    mlp_regularise_lanes(true);
}
