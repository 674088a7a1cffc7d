//! InitProducerId for idempotent producers (transactions are not
//! supported: a transactional id is refused).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ProducerId;
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;

use crate::broker::Broker;

/// A new producer id with epoch 0, or the same id with the next epoch when
/// the producer asks to bump its own (v3+).
pub fn init_producer_id(broker: &Broker, req: &InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        tracing::warn!("InitProducerId with a transactional id: transactions are not supported");
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
        return match req.producer_epoch.checked_add(1) {
            Some(epoch) => response
                .with_producer_id(req.producer_id)
                .with_producer_epoch(epoch),
            // Epoch exhausted: a new id.
            None => allocate(broker, response),
        };
    }
    allocate(broker, response)
}

fn allocate(broker: &Broker, response: InitProducerIdResponse) -> InitProducerIdResponse {
    match broker.producer_ids.allocate() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot reserve producer ids");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
