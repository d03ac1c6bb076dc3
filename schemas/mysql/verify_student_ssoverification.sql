-- verify_student_ssoverification: final state after edX verify_student migrations
-- 0001..0016 (lms/djangoapps/verify_student/migrations). See README.md in this folder.
--
-- No foreign key kept: the foreign key user_id -> auth_user.id that edX has is left out
-- so that this file loads without auth_user; its index is kept. Any order.

CREATE TABLE IF NOT EXISTS `verify_student_ssoverification` (
  -- 0006 CreateModel SSOVerification, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  -- model_utils StatusField(max_length=100): created, ready, submitted, must_retry, approved, denied
  `status` varchar(100) NOT NULL,
  `status_changed` datetime(6) NOT NULL,          -- model_utils MonitorField(monitor='status')
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255, blank=True)
  `created_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now_add=True, db_index=True)
  `updated_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now=True, db_index=True)
  -- CharField(max_length=100, choices = dotted paths of the third_party_auth provider config models)
  `identity_provider_type` varchar(100) NOT NULL,
  -- SlugField(max_length=30, default='default'); SlugField implies db_index=True
  `identity_provider_slug` varchar(30) NOT NULL,
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  -- 0013 AddField expiration_date (appended): DateTimeField(null=True, db_index=True)
  `expiration_date` datetime(6) DEFAULT NULL,
  PRIMARY KEY (`id`),
  -- db_index=True fields; Django's names are hashed, these are descriptive
  KEY `verify_student_ssov_created_at_idx` (`created_at`),
  KEY `verify_student_ssov_updated_at_idx` (`updated_at`),
  KEY `verify_student_ssov_identity_provider_slug_idx` (`identity_provider_slug`),
  KEY `verify_student_ssov_expiration_date_idx` (`expiration_date`),
  -- index backing the user_id foreign key (named like the constraint, which is left out here)
  KEY `verify_student_ssov_user_id_fk` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
