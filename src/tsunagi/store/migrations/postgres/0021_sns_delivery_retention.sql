-- Delivery records are kept for a while (TSUNAGI_DELIVERY_RECORD_HOURS), then swept by age.
CREATE INDEX IF NOT EXISTS sns_deliveries_at ON sns_deliveries (at);
