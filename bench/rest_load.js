// Load for the REST benchmark: autocannon at a fixed overall rate, each request the next
// transaction of a list shared by all connections, so every transaction id is sent once.
//   node bench/rest_load.js BODIES_JSON URL RATE SECONDS CONNECTIONS
const fs = require("fs");
const autocannon = require("autocannon");

const [bodiesPath, url, rate, seconds, connections] = process.argv.slice(2);
const bodies = JSON.parse(fs.readFileSync(bodiesPath, "utf8"));
let next = 0;

autocannon(
  {
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    overallRate: Number(rate),
    duration: Number(seconds),
    connections: Number(connections),
    requests: [
      {
        setupRequest: (request) => {
          request.body = bodies[next % bodies.length];
          next += 1;
          return request;
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    process.stdout.write(JSON.stringify(result));
  },
);
