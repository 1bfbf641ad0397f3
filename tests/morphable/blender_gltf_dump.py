"""Run inside Blender (`blender -b --factory-startup --python THIS -- IN.glb OUT.json`): import a .glb
with Blender's own glTF importer and dump what an animator would find: the mesh's shape keys,
the shape-key action's curves and the object's rotation curves, as JSON."""
import json
import sys

import numpy

if not hasattr(numpy, "bool"):
    numpy.bool = bool   # Blender 3.4's glTF importer still calls numpy.bool (removed in numpy 1.24)

import bpy  # noqa: E402


def curves(action):
    """{data_path: {index: [[frame, value], ...]}} of an action's F-curves."""
    out = {}
    for fc in action.fcurves if action else []:
        pts = [[float(p.co[0]), float(p.co[1])] for p in fc.keyframe_points]
        out.setdefault(fc.data_path, {})[str(fc.array_index)] = pts
    return out


def main() -> None:
    glb, out = sys.argv[sys.argv.index("--") + 1:][:2]
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    bpy.ops.import_scene.gltf(filepath=glb)
    report = {"blender": bpy.app.version_string, "fps": bpy.context.scene.render.fps, "objects": []}
    for obj in bpy.data.objects:
        entry = {"name": obj.name, "type": obj.type, "rotation_mode": obj.rotation_mode,
                 "object_action": curves(obj.animation_data.action if obj.animation_data else None)}
        keys = getattr(obj.data, "shape_keys", None)
        if keys is not None:
            entry["shape_keys"] = [k.name for k in keys.key_blocks]
            entry["shape_key_action"] = curves(keys.animation_data.action if keys.animation_data else None)
        report["objects"].append(entry)
    with open(out, "w") as fh:
        json.dump(report, fh)


main()
