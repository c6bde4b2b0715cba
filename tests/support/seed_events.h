// Wire payloads from the seeds that more than one test or benchmark decodes.
// Thread-safety: constants only.
#pragma once

namespace ingestlab::testing {

// Seed 000's full-featured customer event (customer dialect, every optional field set).
inline constexpr char kSeedFullFeatured[] = R"({
  "customer_id": "cust_001",
  "event_type": "purchase",
  "timestamp": 1734134400,
  "source_service": "e-commerce-service",
  "data": {
    "purchase_id": "ord_12345",
    "product_name": "Widget Pro",
    "product_sku": "WGT-100",
    "quantity": 2,
    "price": 49.99,
    "total": 99.98,
    "warranty_expires": 1765670400,
    "customer_name": "John Doe",
    "email": "john@example.com",
    "status": "completed"
  },
  "metadata": {
    "session_id": "sess_abc",
    "payment_method": "credit_card",
    "shipping_address": "123 Main St"
  }
})";

}  // namespace ingestlab::testing
