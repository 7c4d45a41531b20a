// Prints the Khronos glTF validator's issues for one GLB as JSON.
// Usage: node validate_gltf.cjs <path of the gltf-validator package> <file.glb>
const fs = require("fs");
const validator = require(process.argv[2]);
const data = new Uint8Array(fs.readFileSync(process.argv[3]));
validator
  .validateBytes(data)
  .then((report) => console.log(JSON.stringify(report.issues)))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
