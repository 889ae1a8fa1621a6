"""Probe: the expected mel power of a faint white-noise floor added before the log (graph surgery)."""
import sys, json, numpy as np, onnx, torch
from onnx import helper, numpy_helper
from listener.training.speech_embedding import OwwFrontend
src = sys.argv[1]; levels = [float(x) for x in sys.argv[2].split(',')]
fe = OwwFrontend()
g = np.random.default_rng(0).standard_normal(16000 * 20).astype(np.float32)
for db in levels:
    with torch.no_grad():
        mel_db = fe.log_mel(torch.from_numpy(g * 10 ** (db / 20))[None])[0].numpy()
    p = (10 ** (mel_db / 10)).mean(0).astype(np.float32)  # [32]
    m = onnx.load(src)
    nodes = list(m.graph.node)
    i = [k for k, n in enumerate(nodes) if n.name == '/embedder/frontend/Clip'][0]
    clip = nodes[i]
    m.graph.initializer.append(numpy_helper.from_array(p, 'floor_power'))
    add = helper.make_node('Add', [clip.input[0], 'floor_power'], ['floored_mel'], name='floor_add')
    clip.input[0] = 'floored_mel'
    m.graph.node.insert(i, add)
    out = f'/tmp/p12/pf{int(-db)}.onnx'
    onnx.save(m, out)
    print(db, 'band dB', np.round(10 * np.log10(p[[0, 8, 16, 24, 31]]), 1), out)
