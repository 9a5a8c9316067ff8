"""Diagnosis (c): what ae-bo's autoencoder does to the OER plate's 6-element compositions.

The descriptors of a composition (mean, spread, min, max of element
properties: 36 columns) of a 6-element simplex have 5 free coordinates. The
autoencoder trained on the whole plate reconstructs them well at 3 latent
dimensions, yet maps many distinct catalysts onto nearly the same latent
point: this counts pairs of rows closer than 1 % of the latent range and the
median difference of their measured overpotentials (against the plate's
standard deviation), at 3 and 5 latent dimensions, and the PCA variance
profile of the descriptors.

Run:  python -m benchmarks.ae_bo_latent     Writes benchmarks/results/ae_bo_latent.json.
"""
import sys
from pathlib import Path
import numpy as np, torch, json
torch.set_num_threads(1)
from labpilot.planners.backtest import load_table
from labpilot.planners import Objective, make_planner
from labpilot.planners.autoencoder import fit_autoencoder
from benchmarks.data import shared_data
cols=["ni_load","fe_load","co_load","mn_load","ce_load","la_load","overpotential"]
t=load_table(shared_data()/"oer_plate_3496"/"data.csv","overpotential","minimize",header=False,columns=cols)
p=make_planner("ae-bo",t.space,[t.objective],seed=0)
desc=p.descriptors(t.x)
out={"descriptor_columns":desc.shape[1]}
z=(desc-desc.mean(0))/np.where(desc.std(0)>0,desc.std(0),1)
sv=np.linalg.svd(z,compute_uv=False)**2; out["pca_variance_fraction_first_k"]=[round(float(v),4) for v in np.cumsum(sv)/sv.sum()][:8]
for L in (3,5):
  ae=fit_autoencoder(desc,L,seed=0,steps=1500)
  lat=ae.encode(desc)
  # collisions: pairs of distinct compositions closer in latent than 1% of range, with different y
  from scipy.spatial import cKDTree
  lat_u=(lat-lat.min(0))/np.ptp(lat,0)
  tree=cKDTree(lat_u); pairs=tree.query_pairs(0.01)
  dy=[abs(t.y[i]-t.y[j]) for i,j in pairs]
  out[f"latent{L}"]={"reconstruction_error":ae.reconstruction_error(desc),"pairs_within_1pct":len(pairs),"median_abs_dy_of_those":float(np.median(dy)) if dy else None}
out["y_std"]=float(t.y.std())
print(json.dumps(out,indent=1))
(Path(__file__).resolve().parent / "results" / "ae_bo_latent.json").write_text(json.dumps(out, indent=1))
