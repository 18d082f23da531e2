// Package federation runs partner feeds: scheduled pull from and push to
// other TAXII 2.1 servers, including other Kizuna hubs (hub-to-hub
// federation).
//
// A feed ties a partner's API root and collection to a local organisation
// (the partner's stand-in here, type partner-cert or hub) and a local
// collection:
//
//   - Pull asks the partner for every object version added after the feed's
//     high-water mark (the X-TAXII-Date-Added-Last of the last stored page),
//     follows "next", and submits each batch through ingest.Pipeline.Submit
//     as the partner organisation; the mark advances only after the batch is
//     committed, so an interrupted pull resumes without loss, and re-stored
//     versions are idempotent, so it adds no duplicates. Objects marked
//     TLP:AMBER+STRICT or TLP:RED are never accepted from outside (counted as
//     withheld): they must never have left their hub.
//   - Push reads the local collection with the sharing policy's Access
//     predicate of a principal representing the partner organisation (the
//     predicate goes into the store query, as on every read path), then
//     applies a stricter rule of its own: never TLP:AMBER+STRICT, TLP:RED or
//     unknown markings, and never versions that the partner organisation
//     produced (objects that came from that partner: loop prevention). It
//     resumes from a push high-water mark (local date_added), POSTs batches
//     and polls their status.
//
// Hub-to-hub loops (A pulls from B while B pulls from A) converge: a hub
// re-receiving a version it already holds stores nothing new and so assigns
// no new date_added, and the other side's next pull finds nothing.
package federation
